-- The web dashboard's one-time login links and sessions, and the archive of posted digests for
-- the history site.
--
-- Links and sessions are stored as SHA-256 hashes of their tokens: a copy of the database opens
-- no dashboard. Both belong to a member row, so forget-me ends them with the member.
CREATE TABLE web_links (
    token_hash TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    permission INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
) WITHOUT ROWID;
CREATE INDEX web_links_by_member ON web_links (member_id);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    permission INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_by_member ON web_sessions (member_id);

-- Every digest as it was posted (the whole one, Markdown), for the site's archive. Forget-me
-- takes the member's names out of it like any free text others wrote.
CREATE TABLE digest_archive (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    week_end INTEGER NOT NULL,
    posted_at INTEGER NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (community, week_end)
);

-- A queued prompt's place in its theme's queue, once a facilitator reorders it on the dashboard;
-- until then (NULL) its id, so prompts queue in the order they were added.
ALTER TABLE prompts ADD COLUMN queue_position INTEGER;
