"""Benchmark 10 still runs (smoke sizes): the shape of its results, never its figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench import migration_apply_bench as bench
from tests.fixtures.postgres import ServerInfo


def test_the_migration_apply_benchmark_runs_in_smoke_mode(
    pg_server: ServerInfo, tmp_path: Path
) -> None:
    bench.main(["--smoke", "--database-url", pg_server.admin_dsn, "--out", str(tmp_path)])
    data = json.loads((tmp_path / "migration_apply_smoke.json").read_text())
    assert (tmp_path / "migration_apply_smoke.png").stat().st_size > 0
    assert data["migrations"] == 9 and data["big_file"]["statements"] == 300
    for workload in ("many", "big"):
        figures = data["median"][workload]
        assert set(figures) == {bench.CLI, bench.IN_PROCESS, bench.PSQL}
        assert all(f["seconds"] > 0 for f in figures.values())
        assert {"parse_s", "lint_s", "sections_s"} <= set(figures[bench.IN_PROCESS])
    assert len(data["rows"]) == 6 and all(r["ratio"] is not None for r in data["rows"])
