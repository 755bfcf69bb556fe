-- expect: dangerous
-- migrate:up
ALTER TABLE users ADD COLUMN plan text NOT NULL;

-- migrate:down
-- irreversible: restore from backup
