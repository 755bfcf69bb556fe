-- expect: safe
-- migrate:up
CREATE VIEW active_users AS SELECT id, email FROM users WHERE deleted_at IS NULL;
COMMENT ON TABLE users IS 'application accounts';

-- migrate:down
-- irreversible: restore from backup
