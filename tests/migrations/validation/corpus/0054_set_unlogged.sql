-- expect: dangerous
-- migrate:up
ALTER TABLE events SET UNLOGGED;

-- migrate:down
-- irreversible: restore from backup
