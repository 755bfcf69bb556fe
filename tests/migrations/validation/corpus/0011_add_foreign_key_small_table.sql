-- expect: safe
-- rows: plans=4
-- migrate:up
ALTER TABLE plans ADD CONSTRAINT plans_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id);

-- migrate:down
-- irreversible: restore from backup
