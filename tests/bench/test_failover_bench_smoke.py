"""The failover benchmark still runs (one short round each), so it does not rot.

It starts its own clusters (they are stopped and promoted), so it takes no server.
Checks are on the shape of the results, never on the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import failover_bench


def test_the_failover_benchmark_runs_in_smoke_mode(tmp_path: Path) -> None:
    failover_bench.main(["--smoke", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "failover_smoke.json").read_text())
    assert data["smoke"] is True and (tmp_path / "failover_smoke.png").stat().st_size > 0
    assert {failover_bench.PROJECT, failover_bench.REFERENCE} == set(data["rounds"])
    assert data["project_worst"]["missing_writes"] == 0
    assert {"benchmark", "metric", "project", "reference", "met"} <= set(data["rows"][0])
