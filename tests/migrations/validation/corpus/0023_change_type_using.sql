-- expect: dangerous
-- migrate:up
ALTER TABLE payments ALTER COLUMN amount TYPE numeric(12, 2) USING amount::numeric(12, 2);

-- migrate:down
-- irreversible: restore from backup
