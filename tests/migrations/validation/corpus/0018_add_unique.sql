-- expect: dangerous
-- migrate:up
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);

-- migrate:down
-- irreversible: restore from backup
