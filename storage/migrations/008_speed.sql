-- Indexes for reading a large store (issue 12): every query of the digest, the report and the
-- member commands finds its rows through an index, never by scanning messages or reactions.

-- /mydata counts a member's reactions and the credits they gave and received; forget-me deletes
-- them by cascade.
CREATE INDEX reactions_by_member ON reactions (member_id);
CREATE INDEX credits_by_receiver ON credits (receiver_id);
CREATE INDEX credits_by_giver ON credits (giver_id);

-- /mydata counts a member's messages not deleted off the index alone (deleted_at in it), and the
-- texts still kept through this partial index, which retention keeps small.
DROP INDEX messages_by_member;
CREATE INDEX messages_by_member ON messages (member_id, posted_at, deleted_at);
CREATE INDEX messages_text_kept ON messages (member_id) WHERE text IS NOT NULL;

-- The digest's unanswered questions: "did anyone else post later in this question's thread?"
-- in one probe per question.
CREATE INDEX messages_by_thread ON messages (community, thread_key, posted_at)
    WHERE thread_key IS NOT NULL;

-- Threads opened in a period (the digest's and stats' threads started).
CREATE INDEX threads_by_time ON threads (community, opened_at);

-- A period's messages and reactions, per member, theme and reply (the digest, stats, theme show):
-- read off the time indexes alone, with no lookup of each row in the table. Rows arrive in time
-- order, so these indexes grow at their end and cost ingest little more than before.
DROP INDEX messages_by_time;
CREATE INDEX messages_by_time ON messages (community, posted_at, member_id, deleted_at, theme,
    reply_to_member_id, chars, reply_to);
DROP INDEX reactions_by_time;
CREATE INDEX reactions_by_time ON reactions (community, reacted_at, member_id, target_member_id,
    theme);
