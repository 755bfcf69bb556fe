-- expect: dangerous
-- migrate:up
CREATE INDEX users_email_idx ON users (email);

-- migrate:down
-- irreversible: restore from backup
