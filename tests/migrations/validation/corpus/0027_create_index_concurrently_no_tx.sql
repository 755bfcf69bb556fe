-- expect: safe
-- migrate:no-transaction
-- migrate:up
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);

-- migrate:down
-- irreversible: restore from backup
