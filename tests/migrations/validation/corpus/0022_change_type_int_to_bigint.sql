-- expect: dangerous
-- rows: orders=8000000
-- columns: orders.quantity=integer
-- migrate:up
ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;

-- migrate:down
-- irreversible: restore from backup
