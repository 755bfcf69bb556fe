-- Index users by sign-up time (recent sign-ups, cohort reports) without blocking
-- writes: CONCURRENTLY cannot run in a transaction, hence no-transaction.
-- migrate:no-transaction

-- migrate:up
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_created_at_idx ON users (created_at);

-- migrate:down
DROP INDEX CONCURRENTLY IF EXISTS users_created_at_idx;
