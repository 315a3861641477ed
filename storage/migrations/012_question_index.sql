-- The questions of a period (the report's and the digest's first responses, the questions still
-- waiting) found among questions alone: about one message in ten. Through messages_by_time every
-- message of the period was looked up in the table to read is_question, which was half of the
-- year report's first responses at a million messages. Partial, so ingest maintains it only for
-- questions; it holds what the first responses read, so the table is not read for them at all.
CREATE INDEX messages_questions ON messages (community, posted_at, member_id, theme, thread_key,
    platform_id, deleted_at) WHERE is_question = 1;
