-- Indexes for the report's reads and a theme's last activity at a million messages (issues 12
-- and 14).

-- A question's first reply (the report's and the digest's first responses, the questions still
-- waiting): who replied, when, and whether it was deleted are read off the index, not by looking
-- each reply up in the table (70 ms of a year's report at a million messages). Only replies have
-- entries, and the columns added are integers.
DROP INDEX messages_by_reply;
CREATE INDEX messages_by_reply ON messages (community, reply_to, posted_at, member_id, deleted_at)
    WHERE reply_to IS NOT NULL;

-- When each theme last spoke (dormancy, the dashboard's theme page): the newest entry of each
-- theme's range, found in a few probes instead of a pass over every message.
CREATE INDEX messages_by_theme ON messages (community, theme, posted_at)
    WHERE theme IS NOT NULL AND deleted_at IS NULL;

-- The report's messages and voices per theme and week, in the order it groups them: no sort of
-- the period's theme_days rows.
CREATE INDEX theme_days_by_week ON theme_days (theme, ((day - 4) / 7), member_id, messages);

-- Per member and local week: messages, reactions given and active days, the sums of the week's
-- member_days rows (counted from them by the recount, storage/rollups.py), which the report's
-- levels read a year of: 83,000 rows at a million messages where grouping member_days' 326,000
-- rows took 60% longer than reading the levels' answer.
CREATE TABLE member_weeks (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    week INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    reactions INTEGER NOT NULL,
    days INTEGER NOT NULL,
    PRIMARY KEY (member_id, week)
) WITHOUT ROWID;
INSERT INTO member_weeks (member_id, week, messages, reactions, days)
    SELECT member_id, week, sum(messages), sum(reactions), count(*) FROM member_days
    GROUP BY member_id, week;
