-- expect: dangerous
-- migrate:up
DROP TABLE old_sessions;

-- migrate:down
-- irreversible: restore from backup
