-- expect: dangerous
-- migrate:up
ALTER TABLE users RENAME TO accounts;

-- migrate:down
-- irreversible: restore from backup
