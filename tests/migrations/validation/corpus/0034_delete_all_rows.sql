-- expect: dangerous
-- migrate:up
DELETE FROM events;

-- migrate:down
-- irreversible: restore from backup
