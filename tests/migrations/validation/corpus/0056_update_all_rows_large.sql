-- expect: dangerous
-- rows: users=2000000
-- migrate:up
UPDATE users SET plan = 'free';

-- migrate:down
-- irreversible: restore from backup
