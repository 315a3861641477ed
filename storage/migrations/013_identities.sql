-- Linked identities: one person's accounts on several platforms (or several accounts on one)
-- counted as one person. A member row is its own person until linked (person_id NULL); linked
-- accounts all point at one of them, the person's representative (whose own person_id is its id).
ALTER TABLE members ADD COLUMN person_id INTEGER REFERENCES members (id) ON DELETE SET NULL;
-- Only linked rows are indexed: a community's linked accounts, and a person's, are read from it.
CREATE INDEX members_by_person ON members (community, person_id) WHERE person_id IS NOT NULL;

-- One-time codes a member makes on one account and types on another: stored as SHA-256 hashes
-- (like web_links), so a copy of the database links nobody. They end with the member.
CREATE TABLE link_codes (
    code_hash TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
) WITHOUT ROWID;
CREATE INDEX link_codes_by_member ON link_codes (member_id);

-- A facilitator's proposal that two accounts are one person: linked only once both confirmed.
CREATE TABLE pending_merges (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    first_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    second_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    proposed_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    proposed_at INTEGER NOT NULL,
    first_confirmed_at INTEGER,
    second_confirmed_at INTEGER,
    UNIQUE (first_id, second_id)
);
CREATE INDEX pending_merges_by_second ON pending_merges (second_id);
