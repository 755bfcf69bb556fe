-- expect: dangerous
-- migrate:up
BEGIN;
ALTER TABLE users ADD COLUMN nickname text;
COMMIT;

-- migrate:down
-- irreversible: restore from backup
