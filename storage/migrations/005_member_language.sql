-- The language a member chose for what Trellis says to them alone (direct messages, private
-- answers): 'en', 'es' or 'pt'; NULL follows the community's locale.
ALTER TABLE members ADD COLUMN language TEXT;
