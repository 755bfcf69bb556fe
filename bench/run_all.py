"""``make bench``: run every benchmark, then rewrite the results table in bench/README.md.

One PostgreSQL server serves them all (a throwaway cluster unless ``--database-url``);
each benchmark runs in its own process, one after the other, so none inherits
another's pools, caches or garbage. A benchmark that fails is reported and the
others still run; the exit status is 1 if any failed. Missed targets are results,
not failures: they appear in the table.

    .venv/bin/python -m bench.run_all                  # everything, then README
    .venv/bin/python -m bench.run_all --only rbac startup
    .venv/bin/python -m bench.run_all --readme-only    # rebuild the table from results/
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common

README = common.ROOT / "bench" / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


@dataclass(frozen=True)
class Bench:
    """How to run one benchmark and where its results land."""

    name: str  # results file stem
    title: str
    argv: tuple[str, ...]  # after the interpreter
    takes_url: bool = True
    takes_out: bool = True


BENCHES = (
    Bench("rbac", "1. RBAC permission check", ("-m", "bench.rbac_bench")),
    Bench("health_load", "2. Health endpoint under load", ("-m", "bench.health_load_bench")),
    Bench("pool_efficiency", "3. Pool efficiency", ("-m", "bench.pool_efficiency_bench")),
    Bench("tracker_overhead", "4. Tracker overhead", ("-m", "bench.tracker_overhead_bench")),
    Bench("migrations", "5. Migrations", ("-m", "bench.migrations_bench")),
    Bench("lint_vs_squawk", "6. Migration lint", ("bench/lint_vs_squawk.py",), False, False),
    Bench("optimizer", "7. Optimizer", ("bench/optimizer_bench.py",)),
    Bench("startup", "8. Start-up", ("-m", "bench.startup_bench")),
    Bench("cli_startup", "9. CLI start-up", ("-m", "bench.cli_startup_bench")),
    Bench(
        "migration_apply",
        "10. Migrations against one psql session",
        ("-m", "bench.migration_apply_bench"),
    ),
    Bench("failover", "11. Primary failover", ("-m", "bench.failover_bench"), False),
    Bench("optimizer_cli", "12. pa-db optimize end to end", ("-m", "bench.optimizer_cli_bench")),
    # Freezes a throwaway cluster of its own: never the shared server.
    Bench(
        "probe_budget", "13. Health budgets under load", ("-m", "bench.probe_budget_bench"), False
    ),
    Bench("rbac_app", "14. RBAC endpoint under load", ("-m", "bench.rbac_app_bench")),
)


def run_one(bench: Bench, admin: str, smoke: bool, out: Path) -> tuple[bool, float]:
    """Run ``bench``; it succeeded if it wrote a fresh results file."""
    cmd = [sys.executable, *bench.argv]
    cmd += ["--database-url", admin] if bench.takes_url else []
    cmd += ["--out", str(out)] if bench.takes_out and out != common.RESULTS else []
    cmd += ["--smoke"] if smoke else []
    started = time.time()
    print(f"== {bench.title}: {' '.join(cmd[1:3])}", flush=True)
    proc = subprocess.run(cmd, cwd=common.ROOT, check=False)
    elapsed = time.time() - started
    suffix = "_smoke" if smoke and bench.name != "optimizer" else ""
    results = (out if bench.takes_out else common.RESULTS) / f"{bench.name}{suffix}.json"
    fresh = results.exists() and results.stat().st_mtime >= started
    if proc.returncode != 0:
        print(f"   exit status {proc.returncode}" + ("" if fresh else ": FAILED, no results"))
    print(f"   {elapsed:.0f} s", flush=True)
    return fresh, elapsed


# -- the README table -----------------------------------------------------------------
def legacy_rows(name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for the two benchmarks that predate ``rows`` in results files."""
    if name == "optimizer":
        t = data["optimizer_median_s"]
        return [
            common.row(
                "Optimizer", f"analyze() on {data['tables']} tables / {data['indexes']} indexes",
                round(t, 3), round(data["raw_median_s"], 3), "s",
                reference_name="raw catalog query (asyncpg)", target=f"< {data['target_s']:g} s",
                met=t < data["target_s"], note=common.missed_by(t, data["target_s"]),
            )
        ]  # fmt: skip
    timing, verdicts = data["timing"], data["verdicts"]
    ours, squawk = verdicts["ours"], verdicts["squawk (safety rules)"]
    missed = len(data["dangerous_squawk_catches_we_miss"])
    return [
        common.row(
            "Migration lint", f"lint {timing['files']} files (CLI)", round(timing["ours_cli_s"], 3),
            round(timing["squawk_cli_s"], 3), "s", reference_name="squawk CLI",
            target="< 2 s", met=timing["ours_cli_s"] < 2.0,
            note=common.missed_by(timing["ours_cli_s"], 2.0),
        ),
        common.row(
            "Migration lint", f"dangerous caught (of {ours['dangerous_total']})",
            ours["dangerous_caught"], squawk["dangerous_caught"], "files",
            reference_name="squawk, safety rules",
        ),
        common.row(
            "Migration lint", f"safe wrongly blocked (of {ours['safe_total']})",
            ours["safe_wrongly_blocked"], squawk["safe_wrongly_blocked"], "files",
            reference_name="squawk, safety rules",
        ),
        common.row(
            "Migration lint", "dangerous files squawk catches and we miss", missed, None, "files",
            target="0", met=missed == 0,
        ),
    ]  # fmt: skip


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _verdict(r: dict[str, Any]) -> str:
    if r["met"] is None:
        return r["note"]
    return ("met" if r["met"] else "**missed**") + (
        f" ({r['note']})" if r["note"] and r["note"] != "met" else ""
    )


def section(bench: Bench, data: dict[str, Any]) -> list[str]:
    rows = data.get("rows") or legacy_rows(bench.name, data)
    command = data.get("command") or f".venv/bin/python {' '.join(bench.argv)}"
    when = data.get("finished_at", "")
    lines = [
        f"### {bench.title}",
        "",
        f"`{command}`" + (f" — finished {when}" if when else ""),
        "",
        "| Metric | Project | Reference | Ratio | Target | Verdict |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        ref = _fmt(r["reference"]) + (f" ({r['reference_name']})" if r["reference_name"] else "")
        unit = f" {r['unit']}" if r["unit"] else ""
        lines.append(
            f"| {r['metric']} | {_fmt(r['project'])}{unit} | {ref} | "
            f"{_fmt(r['ratio']) + 'x' if r['ratio'] is not None else '–'} | "
            f"{r['target'] or '–'} | {_verdict(r)} |"
        )
    return [*lines, ""]


def machine_lines(machine: dict[str, Any]) -> list[str]:
    libs = ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items())
    pg = machine.get("postgresql", {})
    return [
        f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores (shared with other jobs), "
        f"{machine.get('memory_gb')} GB, {machine.get('os')}, Python {machine.get('python')}; "
        f"PostgreSQL {pg.get('server_version', '?')} (fsync={pg.get('fsync', '?')}, "
        f"shared_buffers={pg.get('shared_buffers', '?')}); "
        f"load generator: {machine['tools'].get('wrk') or 'asyncio client (no wrk)'}.",
        "",
        f"Libraries: {libs}.",
        "",
    ]


def table(results: Path) -> str:
    sections: list[str] = []
    machine: dict[str, Any] | None = None
    for bench in BENCHES:
        path = results / f"{bench.name}.json"
        if not path.exists():
            sections += [f"### {bench.title}", "", "_not run yet_", ""]
            continue
        data = json.loads(path.read_text())
        machine = machine or data.get("machine")
        sections += section(bench, data)
    head = machine_lines(machine) if machine else []
    return "\n".join([BEGIN, "", *head, *sections, END])


def update_readme(results: Path) -> None:
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    start, end = text.index(BEGIN), text.index(END) + len(END)
    README.write_text(text[:start] + table(results) + text[end:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", help="existing server allowing CREATE DATABASE")
    p.add_argument("--smoke", action="store_true", help="tiny sizes; README untouched")
    p.add_argument("--only", nargs="*", help="results names to run (e.g. rbac startup)")
    p.add_argument("--out", type=Path, default=common.RESULTS)
    p.add_argument("--readme-only", action="store_true", help="only rebuild the README table")
    opts = p.parse_args(argv)
    if opts.readme_only:
        update_readme(opts.out)
        return 0
    chosen = [b for b in BENCHES if not opts.only or b.name in opts.only]
    if opts.smoke and opts.out == common.RESULTS:
        # The optimizer names its smoke results like its full ones: keep them apart.
        opts.out = Path(tempfile.mkdtemp(prefix="pa-bench-smoke-"))
    failed = []
    with common.server(opts.database_url) as admin:
        for bench in chosen:
            ok, _ = run_one(bench, admin, opts.smoke, opts.out)
            if not ok:
                failed.append(bench.name)
    if not opts.smoke:
        update_readme(opts.out)
        print(f"table written to {README.relative_to(common.ROOT)}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
