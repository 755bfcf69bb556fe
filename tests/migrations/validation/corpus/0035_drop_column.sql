-- expect: dangerous
-- migrate:up
ALTER TABLE users DROP COLUMN legacy_flag;

-- migrate:down
-- irreversible: restore from backup
