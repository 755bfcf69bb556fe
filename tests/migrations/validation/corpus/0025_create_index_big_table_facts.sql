-- expect: dangerous
-- rows: users=5000000
-- migrate:up
CREATE INDEX users_created_idx ON users (created_at);

-- migrate:down
-- irreversible: restore from backup
