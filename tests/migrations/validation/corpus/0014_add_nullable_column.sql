-- expect: safe
-- migrate:up
ALTER TABLE users ADD COLUMN nickname text;

-- migrate:down
-- irreversible: restore from backup
