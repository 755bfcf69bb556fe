-- expect: safe
-- migrate:up
-- pa:allow dropping-column unused since release 2024.10, see issue 118
ALTER TABLE users DROP COLUMN legacy_flag;

-- migrate:down
-- irreversible: restore from backup
