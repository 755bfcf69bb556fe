-- expect: dangerous
-- migrate:up
DROP SCHEMA reporting CASCADE;

-- migrate:down
-- irreversible: restore from backup
