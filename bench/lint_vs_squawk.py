"""Benchmark: our migration validator against squawk on the labelled corpus.

Reports, side by side: dangerous files caught, safe files wrongly blocked, dangerous
files squawk catches that we miss (target: none), and wall time to lint 1,000 files.

Fairness choices, stated so the figures can be judged:
- squawk sees only the ``up`` section of each file (it has no notion of our markers
  and would otherwise flag the ``DROP`` of every down section), and gets
  ``--assume-in-transaction`` for files the runner wraps in a transaction.
- squawk never has database facts; our validator gets the facts each case declares in
  its header (``-- rows: users=5000000``), which is what ``migrate up`` has in production.
- squawk is measured twice: with its defaults (any finding blocks: that is its exit
  code), and with its hygiene rules excluded (``--exclude``), leaving only its safety
  rules. A "block" for us is any unsuppressed error-level finding.

Run: ``.venv/bin/python bench/lint_vs_squawk.py`` (``--smoke`` for a quick check).
Writes ``bench/results/lint_vs_squawk.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from personal_assistant.database.migrations.validation import (  # noqa: E402
    lint_file,
    up_section,
)
from tests.migrations.validation.corpus_cases import Case, load_corpus  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SQUAWK = Path(sys.executable).with_name("squawk")
#: squawk rules about style or re-runnability rather than production safety.
SQUAWK_HYGIENE = (
    "prefer-robust-stmts",
    "require-lock-timeout",
    "require-statement-timeout",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "ban-char-field",
)


def write_up_sections(cases: list[Case], directory: Path) -> dict[Path, Case]:
    """Copy each case's up section into ``directory/tx`` or ``directory/no_tx``."""
    mapping: dict[Path, Case] = {}
    for case in cases:
        section = up_section(case.path.read_text(), str(case.path))
        sub = directory / ("tx" if section.in_transaction else "no_tx")
        sub.mkdir(parents=True, exist_ok=True)
        target = sub / case.path.name
        # Keep line numbers identical to the original file.
        target.write_text("\n" * (section.first_line - 1) + section.sql)
        mapping[target] = case
    return mapping


def squawk_findings(files: list[Path], excluded: tuple[str, ...]) -> dict[str, set[str]]:
    """Rule names squawk reports per file (one process per transaction mode)."""
    found: dict[str, set[str]] = {str(f): set() for f in files}
    for in_tx in (True, False):
        group = [str(f) for f in files if (f.parent.name == "tx") == in_tx]
        if not group:
            continue
        cmd = [str(SQUAWK), "--reporter", "json"]
        cmd += ["--assume-in-transaction"] if in_tx else []
        cmd += [f"--exclude={','.join(excluded)}"] if excluded else []
        out = subprocess.run(cmd + group, capture_output=True, text=True, check=False)
        for item in json.loads(out.stdout or "[]"):
            found.setdefault(item["file"], set()).add(item["rule_name"])
    return found


def score(cases: dict[Path, Case], blocked: dict[Path, bool]) -> dict[str, object]:
    dangerous = [p for p, c in cases.items() if c.dangerous]
    safe = [p for p, c in cases.items() if not c.dangerous]
    return {
        "dangerous_caught": sum(blocked[p] for p in dangerous),
        "dangerous_total": len(dangerous),
        "safe_wrongly_blocked": sum(blocked[p] for p in safe),
        "safe_total": len(safe),
        "missed": sorted(p.name for p in dangerous if not blocked[p]),
        "false_alarms": sorted(p.name for p in safe if blocked[p]),
    }


def time_ours(files: list[Path], cases: dict[str, Case], repeats: int) -> float:
    """Seconds to lint ``files`` in-process (parse + rules), median of ``repeats``."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for f in files:
            lint_file(f, facts=cases[f.name.split("__", 1)[1]].facts)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def time_command(cmd: list[str], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def timing(cases: list[Case], n_files: int, repeats: int, work: Path) -> dict[str, float]:
    """Wall time for ``n_files`` files: ours in-process and as a CLI, and squawk."""
    bulk = work / "bulk"
    bulk.mkdir()
    files = []
    for i in range(n_files):
        case = cases[i % len(cases)]
        target = bulk / f"{i:05d}__{case.path.name}"
        shutil.copyfile(case.path, target)
        files.append(target)
    by_name = {c.path.name: c for c in cases}
    cli = [sys.executable, "-c", "from personal_assistant.cli.lint import app; app()"]
    names = [str(f) for f in files]  # squawk does not search directories
    return {
        "files": n_files,
        "ours_in_process_s": time_ours(files, by_name, repeats),
        "ours_cli_s": time_command([*cli, *names, "--format", "json"], repeats),
        "squawk_cli_s": time_command([str(SQUAWK), "--reporter", "json", *names], repeats),
    }


def plot(result: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    verdicts = result["verdicts"]
    assert isinstance(verdicts, dict)
    names = list(verdicts)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    xs = range(len(names))
    caught = [verdicts[n]["dangerous_caught"] for n in names]
    wrong = [verdicts[n]["safe_wrongly_blocked"] for n in names]
    left.bar([x - 0.2 for x in xs], caught, 0.4, label="dangerous caught (higher is better)")
    left.bar([x + 0.2 for x in xs], wrong, 0.4, label="safe wrongly blocked (lower is better)")
    left.set_xticks(list(xs), names, fontsize=8)
    left.set_title(f"Corpus of {result['corpus_files']} labelled migrations")
    left.legend(fontsize=8)
    t = result["timing"]
    assert isinstance(t, dict)
    labels = ["ours (in-process)", "ours (CLI)", "squawk (CLI)"]
    values = [t["ours_in_process_s"], t["ours_cli_s"], t["squawk_cli_s"]]
    right.bar(labels, values, color=["tab:green", "tab:olive", "tab:gray"])
    right.axhline(2.0, color="red", linestyle="--", label="target 2 s")
    right.set_ylabel("seconds")
    right.set_title(f"Wall time for {t['files']} files")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    opts = args.parse_args()
    n_files, repeats = (50, 1) if opts.smoke else (1000, 3)
    cases = load_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mapping = write_up_sections(cases, work / "squawk")
        ours = {p: bool(lint_file(c.path, facts=c.facts).errors) for p, c in mapping.items()}
        default = squawk_findings(list(mapping), ())
        safety = squawk_findings(list(mapping), SQUAWK_HYGIENE)
        verdicts = {
            "ours": score(mapping, ours),
            "squawk (defaults)": score(mapping, {p: bool(default[str(p)]) for p in mapping}),
            "squawk (safety rules)": score(mapping, {p: bool(safety[str(p)]) for p in mapping}),
        }
        squawk_only = sorted(
            p.name for p, c in mapping.items() if c.dangerous and safety[str(p)] and not ours[p]
        )
        result: dict[str, object] = {
            "corpus_files": len(cases),
            "squawk_version": subprocess.run(
                [str(SQUAWK), "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
            "verdicts": verdicts,
            "dangerous_squawk_catches_we_miss": squawk_only,
            "timing": timing(cases, n_files, repeats, work),
            "smoke": opts.smoke,
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_smoke" if opts.smoke else ""
    (RESULTS / f"lint_vs_squawk{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, RESULTS / f"lint_vs_squawk{suffix}.png")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
