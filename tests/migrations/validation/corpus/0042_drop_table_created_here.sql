-- expect: safe
-- migrate:up
CREATE TABLE tmp_import (id bigint, payload jsonb);
INSERT INTO tmp_import SELECT id, to_jsonb(u) FROM users u WHERE id < 100;
DROP TABLE tmp_import;

-- migrate:down
-- irreversible: restore from backup
