-- expect: safe
-- migrate:up
CREATE TABLE invoices (id bigint PRIMARY KEY, customer_id bigint NOT NULL, total numeric(12, 2));
ALTER TABLE invoices ADD CONSTRAINT invoices_total_positive CHECK (total >= 0);
ALTER TABLE invoices ADD CONSTRAINT invoices_customer_key UNIQUE (customer_id, id);
ALTER TABLE invoices ALTER COLUMN total SET NOT NULL;

-- migrate:down
-- irreversible: restore from backup
