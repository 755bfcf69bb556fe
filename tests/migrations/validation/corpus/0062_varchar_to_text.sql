-- expect: safe
-- rows: users=5000000
-- columns: users.bio=varchar(500)
-- migrate:up
ALTER TABLE users ALTER COLUMN bio TYPE text;

-- migrate:down
-- irreversible: restore from backup
