-- A question its asker (or a facilitator) says is solved with the solved command no longer waits
-- in the digest, however it was answered (aloud in a meeting, by a plain next message).
ALTER TABLE messages ADD COLUMN solved_at INTEGER;

