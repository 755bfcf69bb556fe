-- expect: dangerous
-- migrate:up
ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0);

-- migrate:down
-- irreversible: restore from backup
