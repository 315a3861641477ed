-- Indexes for the report's reads and a theme's last activity at a million messages (issues 12
-- and 14).

-- A question's first reply (the report's and the digest's first responses, the questions still
-- waiting): who replied, when, and whether it was deleted are read off the index, not by looking
-- each reply up in the table (70 ms of a year's report at a million messages). Only replies have
-- entries, and the columns added are integers.
DROP INDEX messages_by_reply;
CREATE INDEX messages_by_reply ON messages (community, reply_to, posted_at, member_id, deleted_at)
    WHERE reply_to IS NOT NULL;

-- When each theme last spoke (dormancy, the dashboard's theme page): the newest entry of each
-- theme's range, found in a few probes instead of a pass over every message.
CREATE INDEX messages_by_theme ON messages (community, theme, posted_at)
    WHERE theme IS NOT NULL AND deleted_at IS NULL;

-- The report's messages and voices per theme and week, in the order it groups them: no sort of
-- the period's theme_days rows.
CREATE INDEX theme_days_by_week ON theme_days (theme, ((day - 4) / 7), member_id, messages);
