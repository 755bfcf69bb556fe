-- expect: dangerous
-- migrate:no-transaction
-- migrate:up
VACUUM FULL users;

-- migrate:down
-- irreversible: restore from backup
