-- expect: dangerous
-- migrate:up
ALTER TABLE users RENAME COLUMN name TO full_name;

-- migrate:down
-- irreversible: restore from backup
