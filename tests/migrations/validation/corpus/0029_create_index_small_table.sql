-- expect: safe
-- rows: tags=12
-- migrate:up
CREATE INDEX tags_label_idx ON tags (label);

-- migrate:down
-- irreversible: restore from backup
