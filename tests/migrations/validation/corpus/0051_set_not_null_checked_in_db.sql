-- expect: safe
-- rows: users=5000000
-- not-null-checked: users.email
-- migrate:up
ALTER TABLE users ALTER COLUMN email SET NOT NULL;

-- migrate:down
-- irreversible: restore from backup
