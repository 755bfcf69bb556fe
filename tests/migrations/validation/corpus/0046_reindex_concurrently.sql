-- expect: safe
-- migrate:no-transaction
-- migrate:up
REINDEX (CONCURRENTLY) TABLE users;

-- migrate:down
-- irreversible: restore from backup
