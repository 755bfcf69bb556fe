"""The optimizer benchmark still runs (smoke size), so it never rots."""

from __future__ import annotations

import json
from pathlib import Path

from bench.optimizer_bench import main
from tests.fixtures.postgres import ServerInfo


def test_the_benchmark_runs_in_smoke_mode(pg_server: ServerInfo, tmp_path: Path) -> None:
    result = main(["--smoke", "--database-url", pg_server.admin_dsn, "--out", str(tmp_path)])
    assert result["tables"] == 20 and result["indexes"] == 60
    assert json.loads((tmp_path / "optimizer.json").read_text())["optimizer_median_s"] > 0
    assert (tmp_path / "optimizer.png").stat().st_size > 0


def test_the_cli_benchmark_runs_in_smoke_mode(pg_server: ServerInfo, tmp_path: Path) -> None:
    from bench.optimizer_cli_bench import PROJECT, REFERENCE
    from bench.optimizer_cli_bench import main as cli_main

    result = cli_main(["--smoke", "--database-url", pg_server.admin_dsn, "--out", str(tmp_path)])
    assert result["tables"] == 20
    assert result["median_wall_s"][PROJECT] > result["median_wall_s"][REFERENCE] > 0
    assert (tmp_path / "optimizer_cli_smoke.json").exists()
    assert (tmp_path / "optimizer_cli_smoke.png").stat().st_size > 0
