-- expect: dangerous
-- rows: orders=900000
-- migrate:up
ALTER TABLE orders ADD COLUMN discount numeric CHECK (discount >= 0);

-- migrate:down
-- irreversible: restore from backup
