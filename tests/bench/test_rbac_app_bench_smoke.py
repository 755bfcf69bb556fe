"""The RBAC endpoint benchmark still runs (smoke sizes: tiny data, one short round)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import rbac_app_bench
from tests.fixtures.postgres import ServerInfo


def test_the_rbac_endpoint_benchmark_runs_in_smoke_mode(
    pg_server: ServerInfo, tmp_path: Path
) -> None:
    rbac_app_bench.main(["--smoke", "--database-url", pg_server.admin_dsn, "--out", str(tmp_path)])
    data = json.loads((tmp_path / "rbac_app_smoke.json").read_text())
    assert (tmp_path / "rbac_app_smoke.png").stat().st_size > 0
    assert set(data["median"]) == set(rbac_app_bench.FACTORIES)
    for figures in data["median"].values():
        assert figures["requests"] > 0 and figures["errors"] == 0
    assert data["rows"][0]["metric"].startswith("requests/s")
