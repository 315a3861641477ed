-- PostgreSQL's version of 007_knowledge_kinds.sql: shared knowledge gains a fourth kind,
-- 'reference', and an item may wait for its kind (kind NULL). PostgreSQL changes a CHECK and a
-- NOT NULL in place, where SQLite rebuilds the table.
ALTER TABLE knowledge_items DROP CONSTRAINT knowledge_items_kind_check;
ALTER TABLE knowledge_items ALTER COLUMN kind DROP NOT NULL;
ALTER TABLE knowledge_items ADD CONSTRAINT knowledge_items_kind_check
    CHECK (kind IN ('lesson', 'case', 'document', 'reference'));
-- The hourly run finds the items still waiting for their kind.
CREATE INDEX knowledge_waiting ON knowledge_items (community, created_at) WHERE kind IS NULL;
