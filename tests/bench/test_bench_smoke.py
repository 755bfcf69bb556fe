"""Each benchmark still runs (smoke sizes), so none rots between ``make bench`` runs.

They run in-process against the tests' server, writing to ``tmp_path``; the checks
are on the shape of the results file, never on the figures (a noisy machine decides
those).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import (
    cli_startup_bench,
    health_load_bench,
    migrations_bench,
    pool_efficiency_bench,
    rbac_bench,
    run_all,
    startup_bench,
    tracker_overhead_bench,
)
from tests.fixtures.postgres import ServerInfo

ROW_KEYS = {"benchmark", "metric", "project", "reference", "unit", "ratio", "target", "met"}
COMMON_KEYS = {"name", "smoke", "command", "finished_at", "machine", "rows"}

Main = Callable[[list[str]], dict[str, Any]]


def run_smoke(main: Main, name: str, server: ServerInfo, out: Path) -> dict[str, Any]:
    main(["--smoke", "--database-url", server.admin_dsn, "--out", str(out)])
    assert (out / f"{name}_smoke.png").stat().st_size > 0
    data: dict[str, Any] = json.loads((out / f"{name}_smoke.json").read_text())
    assert COMMON_KEYS <= set(data)
    assert data["smoke"] is True
    assert data["rows"] and all(ROW_KEYS <= set(r) for r in data["rows"])
    assert {"cpu", "cores", "python", "libraries", "postgresql"} <= set(data["machine"])
    return data


def test_the_rbac_benchmark_runs_in_smoke_mode(pg_server: ServerInfo, tmp_path: Path) -> None:
    data = run_smoke(rbac_bench.main, "rbac", pg_server, tmp_path)
    assert data["dataset"]["roles"] == 200 and data["dataset"]["permissions"] == 2000
    assert {"project read_session", "project session_scope", "asyncpg prepared"} <= set(
        data["sequential"]
    )
    assert set(data["throughput"]) == {"1", "10", "50"}


def test_the_health_load_benchmark_runs_in_smoke_mode(
    pg_server: ServerInfo, tmp_path: Path
) -> None:
    data = run_smoke(health_load_bench.main, "health_load", pg_server, tmp_path)
    for side in (health_load_bench.PROJECT, health_load_bench.REFERENCE):
        assert {"per_s", "p50", "p99", "errors"} <= set(data["median"][side])
        assert data["median"][side]["requests"] > 0


def test_the_pool_efficiency_benchmark_runs_in_smoke_mode(
    pg_server: ServerInfo, tmp_path: Path
) -> None:
    data = run_smoke(pool_efficiency_bench.main, "pool_efficiency", pg_server, tmp_path)
    for config in data["configs"]:
        for side in (pool_efficiency_bench.PROJECT, pool_efficiency_bench.REFERENCE):
            figures = config["median"][side]
            assert {"reuse_ratio", "wait_p95_ms", "connections_created"} <= set(figures)
            assert 0 <= figures["reuse_ratio"] <= 1


def test_the_tracker_overhead_benchmark_runs_in_smoke_mode(
    pg_server: ServerInfo, tmp_path: Path
) -> None:
    data = run_smoke(tracker_overhead_bench.main, "tracker_overhead", pg_server, tmp_path)
    assert data["handler_cost_us"] > 0
    for loop in data["loops"].values():
        assert {"added_p50", "added_cpu", "median"} <= set(loop)


def test_the_migrations_benchmark_runs_in_smoke_mode(pg_server: ServerInfo, tmp_path: Path) -> None:
    data = run_smoke(migrations_bench.main, "migrations", pg_server, tmp_path)
    assert set(data["median"]) == {
        migrations_bench.PROJECT,
        migrations_bench.ALEMBIC,
        migrations_bench.PSQL,
    }
    assert all(m["seconds"] > 0 for m in data["median"].values())


def test_the_startup_benchmark_runs_in_smoke_mode(pg_server: ServerInfo, tmp_path: Path) -> None:
    data = run_smoke(startup_bench.main, "startup", pg_server, tmp_path)
    assert data["median_s"][startup_bench.PROJECT] > 0


def test_the_cli_startup_benchmark_runs_in_smoke_mode(
    pg_server: ServerInfo, tmp_path: Path
) -> None:
    data = run_smoke(cli_startup_bench.main, "cli_startup", pg_server, tmp_path)
    assert set(data["median"]) == set(data["commands"])
    assert all(m["wall_s"] > 0 for m in data["median"].values())
    assert not any("://" in command for command in data["commands"].values())


def test_results_files_never_record_the_database_url() -> None:
    line = run_all.common.command_line("bench.x", ["--database-url", "postgresql://u:pw@h/d"])
    assert "pw" not in line and "--database-url URL" in line


@pytest.mark.parametrize("name", ["rbac", "optimizer"])
def test_the_readme_table_is_built_from_results_files(name: str, tmp_path: Path) -> None:
    rows = [run_all.common.row("B", "m", 2.0, 1.0, "ms", target="< 3 ms", met=True, note="met")]
    data: dict[str, Any] = {"rows": rows, "command": "cmd", "finished_at": "now"}
    if name == "optimizer":
        data = {"tables": 5, "indexes": 15, "optimizer_median_s": 1.0, "raw_median_s": 0.5,
                "target_s": 5.0}  # fmt: skip
    (tmp_path / f"{name}.json").write_text(json.dumps(data))
    table = run_all.table(tmp_path)
    assert table.startswith(run_all.BEGIN) and table.endswith(run_all.END)
    assert "| 2x |" in table
    assert "_not run yet_" in table  # the other benchmarks
