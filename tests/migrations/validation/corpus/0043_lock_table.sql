-- expect: dangerous
-- migrate:up
LOCK TABLE users IN ACCESS EXCLUSIVE MODE;
UPDATE users SET plan = 'free' WHERE plan IS NULL;

-- migrate:down
-- irreversible: restore from backup
