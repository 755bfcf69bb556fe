-- expect: dangerous
-- migrate:up
ALTER TABLE users ALTER COLUMN email SET NOT NULL;

-- migrate:down
-- irreversible: restore from backup
