"""Catalog SQL the optimizer runs, as named constants with bound parameters.

Every statement starts with :data:`MARKER`, so the optimizer can leave its own
queries out of the pg_stat_statements ranking. Each query returns one row per
object for the whole database at once: the optimizer runs a fixed handful of
queries whatever the number of tables (see ``bench/optimizer_bench.py``).
"""

from __future__ import annotations

MARKER = "/* pa:optimizer */"

#: Statements that are not the application's, left out of every ranking: the project's
#: own (tagged with a leading ``/* pa-...`` or ``/* pa:...`` comment; the optimizer
#: tags all of its statements with :data:`MARKER`) and the drivers' (asyncpg's type
#: introspection, SQLAlchemy's connection set-up). ``LIKE`` patterns.
NOT_THE_APPLICATIONS = (
    "/* pa-%",
    "/* pa:%",
    "WITH RECURSIVE typeinfo_tree(%",
    "select pg_catalog.version()",
    "select current_schema()",
    "show standard_conforming_strings",
    "show transaction isolation level",
)

EXTENSIONS = f"""{MARKER}
SELECT extname, extversion FROM pg_extension
WHERE extname IN ('pg_stat_statements', 'hypopg', 'pg_trgm')
"""

#: Fails unless pg_stat_statements is preloaded (readable by every role, unlike
#: ``shared_preload_libraries``, which needs pg_read_all_settings); run in a savepoint.
#: Its age is what "per day" is extrapolated from.
STATEMENTS_PERIOD = f"""{MARKER}
SELECT extract(epoch FROM now() - stats_reset) AS seconds FROM pg_stat_statements_info
"""

#: Which statistics the role may read (superusers have every role's privileges).
PRIVILEGES = f"""{MARKER}
SELECT current_user AS role,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       pg_has_role('pg_read_all_stats', 'USAGE') AS read_all_stats
"""

#: Without pg_read_all_stats, other roles' statements show ``<insufficient privilege>``
#: and a NULL queryid: count what is hidden so the report can say so.
HIDDEN_STATEMENTS = f"""{MARKER}
SELECT count(*) FILTER (WHERE queryid IS NULL) AS hidden,
       coalesce(sum(total_exec_time) FILTER (WHERE queryid IS NULL), 0) AS hidden_ms,
       coalesce(sum(total_exec_time) FILTER (WHERE queryid IS NOT NULL), 0) AS visible_ms
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

#: Tables the role cannot SELECT (no plans, no bloat estimate for them) and sequences
#: it can neither SELECT nor USE (pg_sequences then shows no last_value).
UNREADABLE = f"""{MARKER}
SELECT 'table' AS kind, n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND NOT has_table_privilege(c.oid, 'SELECT')
UNION ALL
SELECT 'sequence', n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  -- CASE: the planner may test this before relkind, and tables are not sequences
  AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'SELECT, USAGE') END
ORDER BY 1, 2, 3
"""

SET_TIMEOUT = f"""{MARKER}
SELECT set_config('statement_timeout', $1, true)
"""

#: Age of the cumulative statistics: since the last reset, or since the server started
#: when they were never reset (a crash restart loses them in every version).
STATS_AGE = f"""{MARKER}
SELECT extract(epoch FROM now() - greatest(d.stats_reset, pg_postmaster_start_time()))
       AS age_seconds
FROM pg_stat_database d
WHERE d.datname = current_database()
"""

#: Plain tables and partitioned parents (whose own counters are empty: their rows
#: live in the partitions). Sizes come from pg_class.relpages (heap, TOAST and
#: indexes, as of the last VACUUM/ANALYZE/CREATE INDEX): pg_total_relation_size()
#: stats every file of every relation, a fifth of a second on 1,000 tables.
TABLES = f"""{MARKER}
SELECT s.schemaname AS schema, s.relname AS name,
       (c.relpages::bigint + coalesce(tc.relpages, 0)
        + coalesce((SELECT sum(ic.relpages) FROM pg_index ix
                    JOIN pg_class ic ON ic.oid = ix.indexrelid
                    WHERE ix.indrelid = s.relid), 0))
       * current_setting('block_size')::bigint AS size_bytes,
       s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples,
       s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0) AS idx_scan,
       s.n_mod_since_analyze AS mod_since_analyze,
       s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del,
       pg_stat_get_blocks_hit(s.relid) AS heap_blks_hit,
       pg_stat_get_blocks_fetched(s.relid) - pg_stat_get_blocks_hit(s.relid)
         AS heap_blks_read,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       EXISTS (SELECT 1 FROM pg_constraint p
               WHERE p.conrelid = s.relid AND p.contype = 'p') AS has_primary_key,
       c.relispartition AS is_partitioned_child,
       c.relkind = 'p' AS is_partitioned
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'p')
"""

#: Every partition with its direct parent: a partitioned index is built from the
#: parent down, one partition at a time.
PARTITIONS = f"""{MARKER}
SELECT cn.nspname AS schema, c.relname AS "table",
       pn.nspname AS parent_schema, p.relname AS parent,
       c.relkind = 'p' AS is_partitioned, c.relkind = 'f' AS is_foreign
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE p.relkind = 'p'
ORDER BY pn.nspname, p.relname, cn.nspname, c.relname
"""

#: Key columns are raw attribute names (as in pg_attribute, comparable with statement
#: columns); expression keys are rendered by pg_get_indexdef(oid, k, true). Keys are
#: resolved in one set-based pass (``keys``), not two subqueries per index. Sizes are
#: pg_class.relpages (see TABLES). An index on a partitioned parent has no storage
#: or counters of its own: its size and scans are its partitions' indexes' sums.
INDEXES = f"""{MARKER}
WITH own AS (
    SELECT x.*, n.nspname, t.relname AS table_name, t.relkind AS table_kind
    FROM pg_index x
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND t.relkind IN ('r', 'm', 'p')
), keys AS (
    SELECT o.indexrelid,
           array_agg(coalesce(a.attname::text, pg_get_indexdef(o.indexrelid, k.n::int, true))
                     ORDER BY k.n) FILTER (WHERE k.n <= o.indnkeyatts) AS columns,
           coalesce(array_agg(a.attname::text ORDER BY k.n)
                    FILTER (WHERE k.n > o.indnkeyatts), '{{}}') AS include
    FROM own o
    CROSS JOIN LATERAL unnest(o.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
    LEFT JOIN pg_attribute a ON a.attrelid = o.indrelid AND a.attnum = k.attnum
         AND k.attnum <> 0
    GROUP BY o.indexrelid
)
SELECT o.nspname AS schema, o.table_name AS "table", i.relname AS name,
       am.amname AS access_method,
       CASE WHEN i.relkind = 'I' THEN
         (SELECT coalesce(sum(pc2.relpages), 0) FROM pg_partition_tree(o.indexrelid) p
          JOIN pg_class pc2 ON pc2.oid = p.relid WHERE p.isleaf)
       ELSE i.relpages END * current_setting('block_size')::bigint AS size_bytes,
       CASE WHEN i.relkind = 'I' THEN
         (SELECT coalesce(sum(pg_stat_get_numscans(p.relid)), 0)
          FROM pg_partition_tree(o.indexrelid) p WHERE p.isleaf)
       ELSE pg_stat_get_numscans(o.indexrelid) END::bigint AS scans,
       i.relkind = 'I' AS is_partitioned,
       pi.nspname AS attached_schema, pc.relname AS attached_name,
       o.indisunique AS is_unique, o.indisprimary AS is_primary,
       o.indisvalid AS is_valid,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = o.indexrelid
               AND k.conrelid = o.indrelid AND k.contype IN ('p', 'u', 'x'))
         AS backs_constraint,
       pg_get_expr(o.indpred, o.indrelid, true) AS predicate,
       keys.columns, keys.include,
       o.indexrelid IN (SELECT index_relid FROM pg_stat_progress_create_index) AS being_built
FROM own o
JOIN keys ON keys.indexrelid = o.indexrelid
JOIN pg_class i ON i.oid = o.indexrelid
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_inherits ih ON ih.inhrelid = o.indexrelid
LEFT JOIN pg_class pc ON pc.oid = ih.inhparent
LEFT JOIN pg_namespace pi ON pi.oid = pc.relnamespace
"""

#: Replicas keep their own counters: the primary never sees their index scans.
REPLICA_INDEX_SCANS = f"""{MARKER}
SELECT schemaname AS schema, indexrelname AS name, coalesce(idx_scan, 0) AS scans
FROM pg_stat_user_indexes
"""

#: A foreign key declared on a partitioned parent is cloned onto every partition
#: (``conparentid`` points back): only the parent's counts, with all its rows.
FOREIGN_KEYS = f"""{MARKER}
SELECT n.nspname AS schema, t.relname AS "table", c.conname AS name,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       CASE WHEN t.relkind = 'p' THEN
         (SELECT coalesce(sum(greatest(pt.reltuples, 0)), 0)
          FROM pg_partition_tree(t.oid) p JOIN pg_class pt ON pt.oid = p.relid
          WHERE p.isleaf)
       ELSE greatest(t.reltuples, 0) END::bigint AS table_rows
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f' AND c.conparentid = 0
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
#: pg_stats (tables never analyzed have no widths and are left out). pg_stats is read
#: only for the tables large enough to report (per table, not grouped over all).
BLOAT = f"""{MARKER}
SELECT n.nspname AS schema, c.relname AS "table", c.relpages AS pages,
       c.reltuples AS tuples, w.data_width,
       current_setting('block_size')::int AS block_size,
       coalesce((SELECT split_part(o, '=', 2)::int FROM unnest(c.reloptions) AS o
                 WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT sum((1 - null_frac) * avg_width) AS data_width FROM pg_stats s
                    WHERE s.schemaname = n.nspname AND s.tablename = c.relname) w
WHERE c.relkind = 'r' AND c.relpages >= $1 AND c.reltuples > 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND w.data_width IS NOT NULL
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

#: pg_stat_statements is cluster-wide: only this database's statements, and neither
#: the project's own nor the drivers' (``$2`` is :data:`NOT_THE_APPLICATIONS`).
STATEMENTS = f"""{MARKER}
SELECT queryid, min(query) AS query, sum(calls)::bigint AS calls,
       sum(total_exec_time) AS total_time_ms,
       sum(total_exec_time) / nullif(sum(calls), 0) AS mean_time_ms,
       sum(rows)::bigint AS rows
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND queryid IS NOT NULL AND NOT query LIKE ANY ($2::text[])
GROUP BY queryid
HAVING sum(calls) >= $1
"""

#: What pg_stats knows of one column: the values a statement is planned with when
#: the generic plan's estimate is far from what pg_stat_statements observed.
COLUMN_STATS = f"""{MARKER}
SELECT s.most_common_vals::text::text[] AS mcv, s.most_common_freqs AS freqs,
       s.histogram_bounds::text::text[] AS histogram, s.n_distinct, s.null_frac,
       ty.typcategory::text AS category
FROM pg_stats s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
JOIN pg_type ty ON ty.oid = a.atttypid
WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3 AND NOT s.inherited
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
  AND queryid IS NOT NULL AND NOT query LIKE ANY ($1::text[])
GROUP BY queryid
"""

PRUNE_SNAPSHOTS = f"""{MARKER}
DELETE FROM pa_stat_statements_snapshots
WHERE captured_at < now() - make_interval(days => $1)
"""

#: The newest snapshot taken at least ``$1`` seconds ago: the start of the window.
SNAPSHOT_BEFORE = f"""{MARKER}
SELECT extract(epoch FROM now() - captured_at) AS age_seconds,
       queryid, calls, total_exec_time, rows, query
FROM pa_stat_statements_snapshots
WHERE captured_at = (SELECT max(captured_at) FROM pa_stat_statements_snapshots
                     WHERE captured_at <= now() - make_interval(secs => $1))
"""

#: Table write counters, snapshotted with the statements: what an index would cost
#: in maintenance is measured over a window, not over a bulk load at start-up.
CREATE_TABLE_SNAPSHOT_TABLE = f"""{MARKER}
CREATE TABLE IF NOT EXISTS pa_stat_tables_snapshots (
    captured_at timestamptz NOT NULL DEFAULT now(),
    schema_name name NOT NULL,
    table_name name NOT NULL,
    n_tup_ins bigint NOT NULL,
    n_tup_upd bigint NOT NULL,
    n_tup_hot_upd bigint NOT NULL,
    PRIMARY KEY (captured_at, schema_name, table_name)
)
"""

TAKE_TABLE_SNAPSHOT = f"""{MARKER}
INSERT INTO pa_stat_tables_snapshots
    (schema_name, table_name, n_tup_ins, n_tup_upd, n_tup_hot_upd)
SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
"""

PRUNE_TABLE_SNAPSHOTS = f"""{MARKER}
DELETE FROM pa_stat_tables_snapshots
WHERE captured_at < now() - make_interval(days => $1)
"""

#: Index writes (inserts plus non-HOT updates) per table since the newest table
#: snapshot at least an hour old; a counter that went down was reset: the current
#: total counts.
TABLE_WRITES_SINCE = f"""{MARKER}
WITH base AS (
    SELECT * FROM pa_stat_tables_snapshots
    WHERE captured_at = (SELECT max(captured_at) FROM pa_stat_tables_snapshots
                         WHERE captured_at <= now() - make_interval(secs => $1))
)
SELECT extract(epoch FROM now() - b.captured_at) AS age_seconds,
       s.schemaname AS schema, s.relname AS "table",
       CASE WHEN s.n_tup_ins >= b.n_tup_ins AND s.n_tup_upd >= b.n_tup_upd
            THEN (s.n_tup_ins - b.n_tup_ins)
                 + greatest(0, (s.n_tup_upd - s.n_tup_hot_upd)
                               - (b.n_tup_upd - b.n_tup_hot_upd))
            ELSE s.n_tup_ins + greatest(0, s.n_tup_upd - s.n_tup_hot_upd) END AS writes
FROM base b
JOIN pg_stat_user_tables s ON s.schemaname = b.schema_name AND s.relname = b.table_name
"""

TABLE_SNAPSHOT_EXISTS = f"""{MARKER}
SELECT to_regclass('pa_stat_tables_snapshots') IS NOT NULL AS present
"""
