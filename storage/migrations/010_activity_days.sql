-- What `stats` and `theme show` count (storage.activity.activity), per local day, member and theme,
-- so that four weeks at a million messages are a few thousand rows per member range rather than a
-- pass over every message, reply and reaction of the period. Recounted like the report's rollups
-- (storage/rollups.py): the days ingest noted as changed, before they are read.
--
-- Unlike member_days, the counts leave out bots and opted-out members on both sides (a reply from
-- an opted-out member is not a reply received): the set of hidden members is recorded in
-- rollup_zones, and when it changes (an opt-out, an opt-in, a bot flagged) activity_days is
-- recounted everywhere. The theme is '' for messages, reactions and threads of no theme, and '*' for a
-- member's day in every theme together (what `stats` without a theme reads): a period's figures
-- are then one range of the key per member, read in order with no sort, and a member's active
-- days are the number of its rows with messages or reactions given.
CREATE TABLE activity_days (
    theme TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    replies_given INTEGER NOT NULL,
    chars INTEGER NOT NULL,
    replies_received INTEGER NOT NULL,
    reactions_given INTEGER NOT NULL,
    reactions_received INTEGER NOT NULL,
    threads_started INTEGER NOT NULL,
    PRIMARY KEY (theme, member_id, day)
) WITHOUT ROWID;
CREATE INDEX activity_days_by_day ON activity_days (day);
CREATE INDEX activity_days_by_member ON activity_days (member_id);

-- A digest of the community's hidden members (bots, opted out) when its rollups were counted:
-- '' until then, so the first refresh after this migration counts activity_days everywhere.
ALTER TABLE rollup_zones ADD COLUMN hidden TEXT NOT NULL DEFAULT '';
