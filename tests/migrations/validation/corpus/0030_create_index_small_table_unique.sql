-- expect: safe
-- rows: plans=4
-- migrate:up
CREATE UNIQUE INDEX plans_code_idx ON plans (code);

-- migrate:down
-- irreversible: restore from backup
