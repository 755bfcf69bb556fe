-- expect: safe
-- rows: plans=4
-- migrate:up
ALTER TABLE plans ADD PRIMARY KEY (id);

-- migrate:down
-- irreversible: restore from backup
