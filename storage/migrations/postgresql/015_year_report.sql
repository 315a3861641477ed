-- PostgreSQL's version 15: the year report at a million messages (issue 14). As SQLite's
-- (015_year_report.sql), each question's first response kept by the recount; and three indexes
-- of the report's cover what it reads, so that it reads them without visiting the table.

ALTER TABLE messages ADD COLUMN first_response_at BIGINT;
DROP INDEX messages_questions;
CREATE INDEX messages_questions ON messages (community, posted_at, member_id, theme, thread_key,
    platform_id, deleted_at, first_response_at) WHERE is_question = 1;
UPDATE rollup_zones SET timezone = NULL;

-- The report's ties group each pair's days in key order: with weight in its primary key that
-- order comes off the index alone (an index-only scan), where reading each row from the table,
-- or hashing all 1.05M pair-days of a year, took twice as long. SQLite's table is its key.
ALTER TABLE tie_days DROP CONSTRAINT tie_days_pkey;
ALTER TABLE tie_days ADD PRIMARY KEY (a, b, day) INCLUDE (weight);

-- A question's first response in its thread (the report's and the digest's first responses): who
-- posted and whether it was deleted, off the index: 120 ms → 70 ms of a year's 23,000 probes.
DROP INDEX messages_by_thread;
CREATE INDEX messages_by_thread ON messages (community, thread_key, posted_at)
    INCLUDE (member_id, deleted_at) WHERE thread_key IS NOT NULL;

-- The report's messages and voices per theme and week read the period's days off the index
-- too (SQLite's index of a WITHOUT ROWID table holds the key's day already): 100 ms → 70 ms.
DROP INDEX theme_days_by_week;
CREATE INDEX theme_days_by_week ON theme_days (theme, ((day - 4) / 7), member_id, messages)
    INCLUDE (day);
