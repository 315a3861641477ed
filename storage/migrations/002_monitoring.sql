-- Monitoring, evaluation and impact: the knowledge map (profiles), shared knowledge, commitments,
-- community events, surveys and welcomes. Times are UTC epoch seconds; dates are ISO text
-- (YYYY-MM-DD) in the community's own timezone. Every row about a person references members (id)
-- with ON DELETE CASCADE, or SET NULL where the row belongs to the community and must outlive them,
-- so that forget-me leaves nothing about the member.

-- The knowledge map: who is who. Free text, as the member wrote it.
CREATE TABLE profiles (
    member_id INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    organisation TEXT NOT NULL DEFAULT '',
    expertise TEXT NOT NULL DEFAULT '',
    languages TEXT NOT NULL DEFAULT '',
    prefers TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
);
CREATE INDEX profiles_by_organisation ON profiles (organisation COLLATE NOCASE);

-- Documents and cases generated: shared with `share …` or marked with a 💡 by a facilitator or
-- theme leader. source_platform_id is the chat message it came from (NULL for `share`), so that
-- a second 💡 on the same message records nothing new.
CREATE TABLE knowledge_items (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('lesson', 'case', 'document')),
    title TEXT NOT NULL,
    link TEXT,
    theme TEXT,
    channel_key TEXT,
    source_platform_id TEXT,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    UNIQUE (community, source_platform_id)
);
CREATE INDEX knowledge_by_time ON knowledge_items (community, created_at);

-- Who is credited for an item (the person who shared it, or the author of the marked message).
CREATE TABLE knowledge_authors (
    item_id INTEGER NOT NULL REFERENCES knowledge_items (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (item_id, member_id)
) WITHOUT ROWID;
CREATE INDEX knowledge_authors_by_member ON knowledge_authors (member_id);

-- Responsibilities taken on and fulfilled. due_date is the day, in the community's timezone.
CREATE TABLE commitments (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    what TEXT NOT NULL,
    due_date TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    reminded_at INTEGER
);
CREATE INDEX commitments_by_due ON commitments (community, due_date);
CREATE INDEX commitments_by_member ON commitments (member_id);

-- Community events, face to face or online. place is free text: an address, a room, a link.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    place TEXT NOT NULL DEFAULT '',
    theme TEXT,
    created_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    day_reminded_at INTEGER,
    hour_reminded_at INTEGER
);
CREATE INDEX events_by_time ON events (community, starts_at);

-- One row per survey asked: kind 'pulse' (monthly) or 'impact' (quarterly), period its label
-- ('2026-11', '2026-Q4').
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('pulse', 'impact')),
    period TEXT NOT NULL,
    asked_at INTEGER NOT NULL,
    UNIQUE (community, kind, period)
);

-- Who was asked and whether they answered: never which answer is theirs.
CREATE TABLE survey_invitations (
    survey_id INTEGER NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    delivered INTEGER NOT NULL DEFAULT 1,
    answered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (survey_id, member_id)
) WITHOUT ROWID;
CREATE INDEX survey_invitations_by_member ON survey_invitations (member_id);

-- Answers carry no answerer and no time; the key is random, so that not even the order in which
-- rows were written links an answer to an invitation. Pulse answers fill satisfaction and
-- ownership (1-5) and may name whom the member learned from; impact answers fill story.
CREATE TABLE survey_answers (
    id TEXT PRIMARY KEY,
    survey_id INTEGER NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    satisfaction INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
    ownership INTEGER CHECK (ownership BETWEEN 1 AND 5),
    learned_from_member_id INTEGER REFERENCES members (id) ON DELETE SET NULL,
    story TEXT
) WITHOUT ROWID;
CREATE INDEX survey_answers_by_survey ON survey_answers (survey_id);

-- Welcome messages sent on join, so that a replayed join does not welcome twice.
CREATE TABLE welcomes (
    member_id INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    sent_at INTEGER NOT NULL,
    delivered INTEGER NOT NULL
);
