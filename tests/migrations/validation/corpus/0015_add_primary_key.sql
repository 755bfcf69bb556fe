-- expect: dangerous
-- migrate:up
ALTER TABLE audit_log ADD PRIMARY KEY (id);

-- migrate:down
-- irreversible: restore from backup
