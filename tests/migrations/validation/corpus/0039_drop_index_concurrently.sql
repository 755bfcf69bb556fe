-- expect: safe
-- migrate:no-transaction
-- migrate:up
DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;

-- migrate:down
-- irreversible: restore from backup
