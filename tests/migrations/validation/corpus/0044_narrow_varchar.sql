-- expect: dangerous
-- rows: users=5000000
-- columns: users.name=varchar(255)
-- migrate:up
ALTER TABLE users ALTER COLUMN name TYPE varchar(50);

-- migrate:down
-- irreversible: restore from backup
