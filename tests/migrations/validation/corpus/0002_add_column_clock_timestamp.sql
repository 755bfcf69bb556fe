-- expect: dangerous
-- migrate:up
ALTER TABLE events ADD COLUMN ingested_at timestamptz DEFAULT clock_timestamp();

-- migrate:down
-- irreversible: restore from backup
