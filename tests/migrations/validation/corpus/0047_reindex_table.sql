-- expect: dangerous
-- migrate:up
REINDEX TABLE users;

-- migrate:down
-- irreversible: restore from backup
