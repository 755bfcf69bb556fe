-- expect: dangerous
-- migrate:up
ALTER TABLE events ADD COLUMN seq bigserial;

-- migrate:down
-- irreversible: restore from backup
