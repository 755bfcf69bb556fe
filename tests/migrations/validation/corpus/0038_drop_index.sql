-- expect: dangerous
-- migrate:up
DROP INDEX users_email_idx;

-- migrate:down
-- irreversible: restore from backup
