-- expect: safe
-- migrate:up
ALTER TABLE users ADD COLUMN updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- migrate:down
-- irreversible: restore from backup
