-- expect: safe
-- rows: users=2000000
-- migrate:up
UPDATE users SET plan = 'free' WHERE id BETWEEN 1 AND 10000 AND plan IS NULL;

-- migrate:down
-- irreversible: restore from backup
