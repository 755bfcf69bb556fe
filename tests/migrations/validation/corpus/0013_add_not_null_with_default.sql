-- expect: safe
-- migrate:up
ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';

-- migrate:down
-- irreversible: restore from backup
