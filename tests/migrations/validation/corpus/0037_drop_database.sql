-- expect: dangerous
-- migrate:no-transaction
-- migrate:up
DROP DATABASE analytics;

-- migrate:down
-- irreversible: restore from backup
