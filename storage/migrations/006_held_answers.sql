-- A survey answer not yet released is marked by a column of its own, instead of a prefix on its
-- random key: results read only released answers, and answers are released in whole groups of
-- the community's minimum size (storage.surveys.answer). The key stays random, so that not
-- even the order of writing links an answer to an invitation.
ALTER TABLE survey_answers ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
UPDATE survey_answers SET held = 1, id = substr(id, 6) WHERE substr(id, 1, 5) = 'held:';
CREATE INDEX survey_answers_held ON survey_answers (survey_id, held);
