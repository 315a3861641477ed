-- The core schema: members, what they post and react to, themes' threads, credits, prompts,
-- nudges, schedules and their runs, and adapters' own state. Times are UTC epoch seconds.

CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    member_key TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    is_bot INTEGER NOT NULL DEFAULT 0,
    first_seen_at INTEGER NOT NULL,
    joined_at INTEGER,
    left_at INTEGER,
    last_posted_at INTEGER,
    opted_out_at INTEGER,
    nudges_off INTEGER NOT NULL DEFAULT 0,
    unreachable_at INTEGER,
    UNIQUE (community, member_key)
);

-- Members who asked to be forgotten: a salted hash only, so that their future chat stays untracked.
CREATE TABLE forgotten_members (
    community TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    PRIMARY KEY (community, key_hash)
) WITHOUT ROWID;

CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    channel_key TEXT NOT NULL,
    thread_key TEXT,
    theme TEXT,
    posted_at INTEGER NOT NULL,
    text TEXT,
    chars INTEGER NOT NULL DEFAULT 0,
    is_question INTEGER NOT NULL DEFAULT 0,
    reply_to TEXT,
    reply_to_member_id INTEGER REFERENCES members (id) ON DELETE SET NULL,
    edited_at INTEGER,
    deleted_at INTEGER,
    UNIQUE (community, platform_id)
);
CREATE INDEX messages_by_time ON messages (community, posted_at);
CREATE INDEX messages_by_member ON messages (member_id, posted_at);
CREATE INDEX messages_by_reply ON messages (community, reply_to) WHERE reply_to IS NOT NULL;

CREATE TABLE mentions (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, member_id)
) WITHOUT ROWID;
CREATE INDEX mentions_by_member ON mentions (member_id);

CREATE TABLE reactions (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    message_platform_id TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    target_member_id INTEGER REFERENCES members (id) ON DELETE CASCADE,
    emoji TEXT NOT NULL,
    theme TEXT,
    reacted_at INTEGER NOT NULL,
    UNIQUE (community, message_platform_id, member_id, emoji)
);
CREATE INDEX reactions_by_time ON reactions (community, reacted_at);

CREATE TABLE threads (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    channel_key TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    opener_member_id INTEGER REFERENCES members (id) ON DELETE SET NULL,
    theme TEXT,
    opened_at INTEGER NOT NULL,
    UNIQUE (community, thread_key)
);

-- Recognition: who is credited, by whom, for what, in which theme. Never points.
CREATE TABLE credits (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    kind TEXT NOT NULL,
    receiver_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    giver_id INTEGER REFERENCES members (id) ON DELETE CASCADE,
    asker_id INTEGER REFERENCES members (id) ON DELETE SET NULL,
    theme TEXT,
    reason TEXT NOT NULL DEFAULT '',
    source_platform_id TEXT NOT NULL,
    credited_at INTEGER NOT NULL,
    UNIQUE (community, kind, receiver_id, giver_id, source_platform_id)
);
CREATE INDEX credits_by_time ON credits (community, credited_at);

CREATE TABLE prompts (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    theme TEXT NOT NULL,
    text TEXT NOT NULL,
    added_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    added_at INTEGER NOT NULL,
    posted_at INTEGER,
    channel_key TEXT,
    platform_id TEXT
);
CREATE INDEX prompts_queue ON prompts (community, theme, posted_at);

CREATE TABLE nudges (
    id INTEGER PRIMARY KEY,
    community TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    delivered INTEGER NOT NULL
);
CREATE INDEX nudges_by_member ON nudges (member_id, sent_at);

-- Every scheduled run, claimed before it acts: a (job, due time) pair runs at most once.
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    outcome TEXT NOT NULL DEFAULT 'running',
    detail TEXT NOT NULL DEFAULT '',
    UNIQUE (job, due_at)
);

CREATE TABLE themes_seen (
    community TEXT NOT NULL,
    theme TEXT NOT NULL,
    dormant_since INTEGER,
    PRIMARY KEY (community, theme)
) WITHOUT ROWID;

-- What must survive a restart besides chat: adapters' sync tokens and direct rooms, schedules.
CREATE TABLE state (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
