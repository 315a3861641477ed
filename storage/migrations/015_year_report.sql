-- The year report at a million messages (issue 14).

-- Each question's first response (a reply, or a later post in its thread, by another member; NULL
-- while none), kept by the recount (storage/rollups.py) for the questions asked or answered on
-- the days it recounts. The report read it for tens of thousands of questions a year by probing
-- two indexes per question (a third of a year's report on PostgreSQL); now it reads it off the
-- questions' index. Counted for every question at the next recount: forgetting the timezone the
-- rollups were counted in makes it recount everything.
ALTER TABLE messages ADD COLUMN first_response_at INTEGER;
DROP INDEX messages_questions;
CREATE INDEX messages_questions ON messages (community, posted_at, member_id, theme, thread_key,
    platform_id, deleted_at, first_response_at) WHERE is_question = 1;
UPDATE rollup_zones SET timezone = NULL;

-- PostgreSQL's version (migrations/postgresql/015_year_report.sql) also makes three of the
-- report's indexes cover what it reads from them. Not here: SQLite's tie_days and theme_days are
-- WITHOUT ROWID tables, whose rows are their keys and whose indexes hold the whole key, and its
-- thread index stays as narrow as ingest wants it (a wider entry for every post in a thread, for
-- about 50 ms of a year's report at a million messages).
