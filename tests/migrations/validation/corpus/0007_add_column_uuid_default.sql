-- expect: dangerous
-- rows: users=3000000
-- migrate:up
ALTER TABLE users ADD COLUMN public_id uuid DEFAULT gen_random_uuid();

-- migrate:down
-- irreversible: restore from backup
