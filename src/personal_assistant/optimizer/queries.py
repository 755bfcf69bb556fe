"""Catalog SQL the optimizer runs, as named constants with bound parameters.

Every statement starts with :data:`MARKER`, so the optimizer can leave its own
queries out of the pg_stat_statements ranking. Each query returns one row per
object for the whole database at once: the optimizer runs a fixed handful of
queries whatever the number of tables (see ``bench/optimizer_bench.py``).
"""

from __future__ import annotations

MARKER = "/* pa-optimizer */"

EXTENSIONS = f"""{MARKER}
SELECT extname FROM pg_extension WHERE extname IN ('pg_stat_statements', 'hypopg')
"""

PRELOADED = f"""{MARKER}
SELECT current_setting('shared_preload_libraries') AS libs
"""

SET_TIMEOUT = f"""{MARKER}
SELECT set_config('statement_timeout', :timeout, true)
"""

#: Age of the cumulative statistics: since the last reset, or since the server started
#: when they were never reset (a crash restart loses them in every version).
STATS_AGE = f"""{MARKER}
SELECT extract(epoch FROM now() - greatest(d.stats_reset, pg_postmaster_start_time()))
       AS age_seconds
FROM pg_stat_database d
WHERE d.datname = current_database()
"""

TABLES = f"""{MARKER}
SELECT s.schemaname AS schema, s.relname AS name,
       pg_total_relation_size(s.relid) AS size_bytes,
       s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples,
       s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0) AS idx_scan,
       s.n_mod_since_analyze AS mod_since_analyze,
       coalesce(io.heap_blks_hit, 0) AS heap_blks_hit,
       coalesce(io.heap_blks_read, 0) AS heap_blks_read,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       EXISTS (SELECT 1 FROM pg_constraint p
               WHERE p.conrelid = s.relid AND p.contype = 'p') AS has_primary_key,
       c.relispartition AS is_partitioned_child
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
LEFT JOIN pg_statio_user_tables io ON io.relid = s.relid
WHERE c.relkind = 'r'
"""

#: Key columns are raw attribute names (as in pg_attribute, comparable with statement
#: columns); expression keys are rendered by pg_get_indexdef(oid, k, true).
INDEXES = f"""{MARKER}
SELECT n.nspname AS schema, t.relname AS "table", i.relname AS name,
       am.amname AS access_method,
       pg_relation_size(x.indexrelid) AS size_bytes,
       coalesce(s.idx_scan, 0) AS scans,
       x.indisunique AS is_unique, x.indisprimary AS is_primary,
       x.indisvalid AS is_valid,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid
               AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))
         AS backs_constraint,
       pg_get_expr(x.indpred, x.indrelid, true) AS predicate,
       ARRAY(SELECT coalesce(a.attname::text, pg_get_indexdef(x.indexrelid, k, true))
             FROM generate_series(1, x.indnkeyatts) AS k
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid
                  AND a.attnum = x.indkey[k - 1] AND x.indkey[k - 1] <> 0
             ORDER BY k) AS columns,
       ARRAY(SELECT a.attname::text
             FROM generate_series(x.indnkeyatts + 1, x.indnatts) AS k
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k - 1]
             ORDER BY k) AS include,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
               WHERE p.index_relid = x.indexrelid) AS being_built
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND t.relkind IN ('r', 'm')
"""

#: Replicas keep their own counters: the primary never sees their index scans.
REPLICA_INDEX_SCANS = f"""{MARKER}
SELECT schemaname AS schema, indexrelname AS name, coalesce(idx_scan, 0) AS scans
FROM pg_stat_user_indexes
"""

FOREIGN_KEYS = f"""{MARKER}
SELECT n.nspname AS schema, t.relname AS "table", c.conname AS name,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       greatest(t.reltuples, 0)::bigint AS table_rows
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

#: The owning column's type matters: a bigint sequence feeding an integer column
#: runs out at 2^31 - 1.
SEQUENCES = f"""{MARKER}
SELECT s.schemaname AS schema, s.sequencename AS name, s.last_value,
       s.min_value, s.max_value, s.increment_by AS increment,
       format_type(s.data_type, NULL) AS data_type,
       tn.nspname AS owner_schema, t.relname AS owner_table, a.attname AS owner_column,
       format_type(a.atttypid, NULL) AS owner_type
FROM pg_sequences s
JOIN pg_namespace sn ON sn.nspname = s.schemaname
JOIN pg_class sc ON sc.relname = s.sequencename AND sc.relnamespace = sn.oid
LEFT JOIN pg_depend d ON d.objid = sc.oid AND d.classid = 'pg_class'::regclass
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
"""

#: Inputs of the bloat estimate: pages used, rows, and the average row width from
#: pg_stats (tables never analyzed have no widths and are left out).
BLOAT = f"""{MARKER}
SELECT n.nspname AS schema, c.relname AS "table", c.relpages AS pages,
       c.reltuples AS tuples, w.data_width,
       current_setting('block_size')::int AS block_size,
       coalesce((SELECT split_part(o, '=', 2)::int FROM unnest(c.reloptions) AS o
                 WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN (SELECT schemaname, tablename, sum((1 - null_frac) * avg_width) AS data_width
      FROM pg_stats GROUP BY schemaname, tablename) w
  ON w.schemaname = n.nspname AND w.tablename = c.relname
WHERE c.relkind = 'r' AND c.relpages >= :min_pages AND c.reltuples > 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

#: Columns of user tables, to resolve unqualified column names in statements.
COLUMNS = f"""{MARKER}
SELECT n.nspname AS schema, c.relname AS "table", a.attname AS "column"
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
"""

SEARCH_PATH = f"""{MARKER}
SELECT unnest(current_schemas(false)) AS schema
"""

#: pg_stat_statements is cluster-wide: only this database's statements, not ours.
STATEMENTS = f"""{MARKER}
SELECT queryid, min(query) AS query, sum(calls)::bigint AS calls,
       sum(total_exec_time) AS total_time_ms,
       sum(total_exec_time) / nullif(sum(calls), 0) AS mean_time_ms,
       sum(rows)::bigint AS rows
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND queryid IS NOT NULL AND query NOT LIKE '{MARKER}%'
GROUP BY queryid
HAVING sum(calls) >= :min_calls
"""

SNAPSHOT_TABLE_EXISTS = f"""{MARKER}
SELECT to_regclass('pa_stat_statements_snapshots') IS NOT NULL AS present
"""

CREATE_SNAPSHOT_TABLE = f"""{MARKER}
CREATE TABLE IF NOT EXISTS pa_stat_statements_snapshots (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    captured_at timestamptz NOT NULL DEFAULT now(),
    queryid bigint NOT NULL,
    calls bigint NOT NULL,
    total_exec_time double precision NOT NULL,
    rows bigint NOT NULL,
    query text NOT NULL
)
"""

CREATE_SNAPSHOT_INDEX = f"""{MARKER}
CREATE INDEX IF NOT EXISTS pa_stat_statements_snapshots_captured_at_idx
    ON pa_stat_statements_snapshots (captured_at, queryid)
"""

#: Summed over users: the window deltas are per statement text, not per role.
TAKE_SNAPSHOT = f"""{MARKER}
INSERT INTO pa_stat_statements_snapshots (queryid, calls, total_exec_time, rows, query)
SELECT queryid, sum(calls), sum(total_exec_time), sum(rows), min(query)
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND queryid IS NOT NULL AND query NOT LIKE '{MARKER}%'
GROUP BY queryid
"""

PRUNE_SNAPSHOTS = f"""{MARKER}
DELETE FROM pa_stat_statements_snapshots
WHERE captured_at < now() - make_interval(days => :days)
"""

#: The newest snapshot taken at least ``:seconds`` ago: the start of the window.
SNAPSHOT_BEFORE = f"""{MARKER}
SELECT captured_at, queryid, calls, total_exec_time, rows, query
FROM pa_stat_statements_snapshots
WHERE captured_at = (SELECT max(captured_at) FROM pa_stat_statements_snapshots
                     WHERE captured_at <= now() - make_interval(secs => :seconds))
"""
