-- expect: safe
-- rows: settings=20
-- migrate:up
UPDATE settings SET value = 'on' ;

-- migrate:down
-- irreversible: restore from backup
