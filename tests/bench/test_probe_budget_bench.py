"""The probe budget benchmark still runs (smoke sizes): its results' shape, never its figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench import probe_budget_bench as bench


def test_the_probe_budget_benchmark_runs_in_smoke_mode(tmp_path: Path) -> None:
    bench.main(["--smoke", "--out", str(tmp_path)])  # freezes a cluster of its own
    data = json.loads((tmp_path / "probe_budget_smoke.json").read_text())
    assert (tmp_path / "probe_budget_smoke.png").stat().st_size > 0
    assert set(data["scenarios"]) == set(bench.SCENARIOS)
    for scenario, sides in data["scenarios"].items():
        assert set(sides) == set(bench.SIDES[scenario])
        assert all(f["requests"] > 0 and f["max"] > 0 for f in sides.values())
    assert len(data["rows"]) == 5 and all(r["target"] for r in data["rows"])
