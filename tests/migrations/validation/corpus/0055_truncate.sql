-- expect: dangerous
-- migrate:up
TRUNCATE sessions;

-- migrate:down
-- irreversible: restore from backup
