-- expect: safe
-- rows: users=5000000
-- columns: users.name=varchar(100)
-- migrate:up
ALTER TABLE users ALTER COLUMN name TYPE varchar(255);

-- migrate:down
-- irreversible: restore from backup
