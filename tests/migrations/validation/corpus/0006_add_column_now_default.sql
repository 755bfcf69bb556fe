-- expect: safe
-- migrate:up
ALTER TABLE users ADD COLUMN seen_at timestamptz DEFAULT now();

-- migrate:down
-- irreversible: restore from backup
