-- expect: safe
-- migrate:up
ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;

-- migrate:down
-- irreversible: restore from backup
