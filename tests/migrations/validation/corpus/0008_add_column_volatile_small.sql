-- expect: safe
-- rows: tags=50
-- migrate:up
ALTER TABLE tags ADD COLUMN public_id uuid DEFAULT gen_random_uuid();

-- migrate:down
-- irreversible: restore from backup
