-- Shared knowledge gains a fourth kind, 'reference', and an item may wait for its kind: a 💡 from
-- a facilitator or theme leader records the message at once (kind NULL, so no read shows it) and
-- asks them what it is. It enters the library when they answer, or as a reference after a day.
-- For an item waiting for its kind, created_at is when it was marked, and becomes when it was
-- filed. SQLite changes a CHECK only by rebuilding the table: the items and their authors are
-- copied to new tables, and renaming the new items table carries the authors' reference to it.
CREATE TABLE knowledge_items_new (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    kind TEXT CHECK (kind IN ('lesson', 'case', 'document', 'reference')),
    title TEXT NOT NULL,
    link TEXT,
    theme TEXT,
    channel_key TEXT,
    source_platform_id TEXT,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    UNIQUE (community, source_platform_id)
);
INSERT INTO knowledge_items_new (id, community, kind, title, link, theme, channel_key,
    source_platform_id, created_at, created_by)
SELECT id, community, kind, title, link, theme, channel_key, source_platform_id, created_at,
    created_by FROM knowledge_items;
CREATE TABLE knowledge_authors_new (
    item_id INTEGER NOT NULL REFERENCES knowledge_items_new (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (item_id, member_id)
) WITHOUT ROWID;
INSERT INTO knowledge_authors_new (item_id, member_id)
SELECT item_id, member_id FROM knowledge_authors;
DROP TABLE knowledge_authors;
DROP TABLE knowledge_items;
ALTER TABLE knowledge_items_new RENAME TO knowledge_items;
ALTER TABLE knowledge_authors_new RENAME TO knowledge_authors;
CREATE INDEX knowledge_by_time ON knowledge_items (community, created_at);
CREATE INDEX knowledge_authors_by_member ON knowledge_authors (member_id);
-- The hourly run finds the items still waiting for their kind.
CREATE INDEX knowledge_waiting ON knowledge_items (community, created_at) WHERE kind IS NULL;
