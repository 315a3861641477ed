-- Rollups for the M&E report, and the index that answer detection for thanks probes. (Since
-- migration 004 ingest no longer counts them: storage/rollups.py recounts the days that changed
-- when a report reads them.)
--
-- Granularity: one row per member and LOCAL DAY (in the community's timezone, recorded in
-- rollup_zones), with the day's Monday-start local week beside it. Why days, not weeks: report
-- periods are whole local weeks, months and quarters, and months and quarters do not start on a
-- Monday, so weekly rows would have to be split at every period boundary by rereading the
-- messages; daily rows add up exactly to any period that starts at a local midnight, and only a
-- period that starts mid-day (the `7d` ones, or a UTC year) rereads the one day it cuts. Why
-- local, not UTC days: a member's active days and the report's weeks are counted in the
-- community's timezone, and a UTC day straddles two local ones. Keeping week before day in the
-- primary key lets the report group per member and week (its levels) straight off the key, with
-- no sort; distinct active days are the number of day rows.
--
-- Until the community's timezone is recorded (refresh_rollups in storage/rollups.py, called when
-- the app opens and by the report, recounts everything when it changes), days are UTC days.
-- Rows only ever hold members' ids and counts; each references members (id) ON DELETE CASCADE,
-- so forget-me leaves nothing.

-- Answer detection for thanks: "did this member reply to that member's message lately?"
CREATE INDEX messages_answers ON messages (community, member_id, reply_to_member_id, posted_at)
    WHERE reply_to_member_id IS NOT NULL;

-- The timezone a community's rollups are counted in (NULL: not recorded yet, UTC days), and a
-- digest of its forgotten members as last seen: a forget-me deletes, by cascade, the reactions
-- others gave to the forgotten member's messages and the member's place in threads (which can
-- make a crowded thread small again), so the next batch rebuilds the community's rollups then.
CREATE TABLE rollup_zones (
    community TEXT PRIMARY KEY,
    timezone TEXT,
    forgotten TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- Per member, local week (days since 1970-01-05, a Monday, div 7) and local day (days since
-- 1970-01-01): messages not deleted, of them replies, and reactions given. One row per active day,
-- so a member's active days in a week are the number of its rows, straight off the key.
CREATE TABLE member_days (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    week INTEGER NOT NULL,
    day INTEGER NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    replies INTEGER NOT NULL DEFAULT 0,
    reactions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, week, day)
) WITHOUT ROWID;

-- Messages not deleted per theme, member and local day (messages of no theme are not here). The
-- key's order gives both of the report's theme figures without a sort: per theme and member
-- (new voices) and per theme, member and week (who spoke in a theme each week).
CREATE TABLE theme_days (
    theme TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    PRIMARY KEY (theme, member_id, day)
) WITHOUT ROWID;
CREATE INDEX theme_days_by_member ON theme_days (member_id);

-- Interactions between two members (a < b) per local day, self-interactions left out: replies,
-- mentions and reactions between them, either way, and sharing a small thread (one interaction
-- per thread, on the day the later of the two first posted in it). A thread ties its participants
-- while it has 2 to 12 of them (MAX_THREAD_PARTICIPANTS in bot/monitoring/report.py): the 13th
-- arrival takes that thread's pairs out again, as being in the same crowd says little about a
-- relationship. So the report reads every tie of a period in one pass in key order.
CREATE TABLE tie_days (
    a INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    b INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    day INTEGER NOT NULL,
    weight INTEGER NOT NULL,
    PRIMARY KEY (a, b, day)
) WITHOUT ROWID;
CREATE INDEX tie_days_by_b ON tie_days (b);

-- Who posted in which thread (messages not deleted), and when first.
CREATE TABLE thread_members (
    community TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    first_at INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    PRIMARY KEY (community, thread_key, member_id)
) WITHOUT ROWID;
CREATE INDEX thread_members_by_member ON thread_members (member_id);
