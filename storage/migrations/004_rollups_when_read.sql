-- The report's rollups are counted when read (storage/rollups.py): ingest notes here the local
-- days whose counts it changed, and refresh_rollups recounts those days from the chat tables
-- before a report reads them, then empties the list. A database upgraded from 003 has rollups
-- already up to date, so it starts with nothing to recount.
CREATE TABLE rollup_changed_days (
    community TEXT NOT NULL,
    day INTEGER NOT NULL,
    PRIMARY KEY (community, day)
) WITHOUT ROWID;

-- A recount finds the rows of the days it recounts by their day.
CREATE INDEX tie_days_by_day ON tie_days (day);
CREATE INDEX theme_days_by_day ON theme_days (day);
