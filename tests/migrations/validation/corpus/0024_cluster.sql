-- expect: dangerous
-- migrate:up
CLUSTER users USING users_pkey;

-- migrate:down
-- irreversible: restore from backup
