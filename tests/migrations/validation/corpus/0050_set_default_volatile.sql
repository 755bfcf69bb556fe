-- expect: safe
-- migrate:up
ALTER TABLE users ALTER COLUMN public_id SET DEFAULT gen_random_uuid();

-- migrate:down
-- irreversible: restore from backup
