-- expect: dangerous
-- migrate:up
ALTER TABLE users ADD COLUMN handle text UNIQUE;

-- migrate:down
-- irreversible: restore from backup
