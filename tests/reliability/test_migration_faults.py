"""Migrations under faults: a runner SIGKILLed half-way, a migration blocked by a long
transaction while the app serves traffic.

Five concurrent runners applying each migration exactly once is proven by
``tests/migrations/test_concurrency.py`` (five real ``pa-db migrate up`` processes).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.migrations.helpers import write
from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE, with_password
from tests.reliability.load import LoadGenerator

SLEEP_S = 1
CLI = [sys.executable, "-m", "personal_assistant.cli.main", "migrate"]


def cli(command: str, database_url: str, directory: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, command, "--database-url", with_password(database_url), "--directory",
         str(directory), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str], timeout_s: float = 60) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout_s)
    EVIDENCE.add("cli:migrate", out)
    return process.returncode, out


def wait_for(dsn: str, sql: str, timeout_s: float = 20.0) -> None:
    """Poll until ``sql`` returns true."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not conn.execute(sql).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, f"timed out waiting for: {sql}"
            time.sleep(0.05)


# A transactional section goes to the server as one message (BEGIN; ...; the sleep),
# so the sleep is somewhere inside the running query's text.
SLEEPING = (
    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
    "WHERE query LIKE '%pg_sleep(%' AND state = 'active' AND pid <> pg_backend_pid())"
)
NOTHING_LEFT = (
    "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid())"
)


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def tracked(dsn: str) -> list[tuple[int, bool]]:
    with psycopg.connect(dsn) as conn:
        return [
            tuple(r)
            for r in conn.execute(  # type: ignore[misc]
                "SELECT version, success FROM schema_migrations ORDER BY version"
            ).fetchall()
        ]


def three_migrations(directory: Path, *, no_tx: bool = False) -> None:
    write(directory, "0001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    if no_tx:
        write(
            directory,
            "0002_a_index.sql",
            f"SELECT pg_sleep({SLEEP_S});\nCREATE INDEX CONCURRENTLY a_id_idx ON a (id);",
            "DROP INDEX CONCURRENTLY a_id_idx;",
            no_tx=True,
        )
    else:
        write(
            directory,
            "0002_b.sql",
            f"CREATE TABLE b (id int);\nSELECT pg_sleep({SLEEP_S});\nINSERT INTO b VALUES (1);",
            "DROP TABLE b;",
        )
    write(directory, "0003_c.sql", "CREATE TABLE c (id int);", "DROP TABLE c;")


def kill_during_sleep(database_url: str, dsn: str, directory: Path) -> float:
    """Start ``migrate up``, SIGKILL it in 0002's sleep; seconds until the server is clean."""
    runner = cli("up", database_url, directory)
    wait_for(dsn, SLEEPING)
    runner.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert runner.wait(10) == -signal.SIGKILL
    finish(runner)
    # The server ends the orphaned session when it next talks to the client: the idle
    # lock connection at once, the migration's own after its sleep (then rolls back).
    wait_for(dsn, NOTHING_LEFT)
    return time.monotonic() - killed


def test_a_runner_killed_mid_migration_leaves_a_consistent_schema_and_a_rerun_completes(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    three_migrations(tmp_path)
    clean_after_s = kill_during_sleep(database_url, database_dsn, tmp_path)
    print(f"\nRECOVERY migration-kill: server clean {clean_after_s:.2f} s after SIGKILL")
    # 0001 committed with its row; 0002 rolled back whole: no table b, no row.
    assert tables(database_dsn) == {"schema_migrations", "a"}
    assert tracked(database_dsn) == [(1, True)]
    code, out = finish(cli("up", database_url, tmp_path))
    assert code == 0, out
    assert "applied 0002_b.sql" in out and "applied 0003_c.sql" in out
    assert "0001_a.sql" not in out
    assert tables(database_dsn) == {"schema_migrations", "a", "b", "c"}
    assert tracked(database_dsn) == [(1, True), (2, True), (3, True)]


def test_a_runner_killed_in_a_no_transaction_migration_is_flagged_until_repaired(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    """Outside a transaction nothing can be rolled back, so the run is recorded as
    failed before it starts: the next run refuses, naming the file, until ``repair``."""
    three_migrations(tmp_path, no_tx=True)
    kill_during_sleep(database_url, database_dsn, tmp_path)
    assert tracked(database_dsn) == [(1, True), (2, False)]
    code, out = finish(cli("up", database_url, tmp_path))
    assert code == 1
    assert "0002_a_index.sql" in out and "Traceback" not in out
    assert finish(cli("repair", database_url, tmp_path))[0] == 0
    code, out = finish(cli("up", database_url, tmp_path))
    assert code == 0, out
    assert tracked(database_dsn) == [(1, True), (2, True), (3, True)]


async def test_a_migration_blocked_by_a_long_transaction_fails_on_lock_timeout_not_the_app(
    served: Serve, database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    lock_timeout_ms = 300
    app = served(database_url, pa_auto_migrate="true", pa_demo_data="true")
    write(tmp_path, "0003_users_note.sql", "ALTER TABLE users ADD COLUMN note text;")
    # The app's own migrations are in the database; this directory must list them too.
    from personal_assistant.database.migrations.files import DEFAULT_DIRECTORY

    for shipped in DEFAULT_DIRECTORY.glob("*.sql"):
        (tmp_path / shipped.name).write_bytes(shipped.read_bytes())
    with psycopg.connect(database_dsn, application_name="nightly-report") as report:
        report.execute("SELECT count(*) FROM users")  # ACCESS SHARE held until rollback
        async with LoadGenerator(app.base_url, "/load/permission", 4) as load:
            await asyncio.sleep(0.3)
            runner = cli(
                "up", database_url, tmp_path, "--lock-timeout", str(lock_timeout_ms),
                "--lock-retries", "1",
            )  # fmt: skip
            code, out = await asyncio.to_thread(finish, runner)
            await asyncio.sleep(0.3)
        report.rollback()
    assert code == 1
    assert "0003_users_note.sql" in out and "nightly-report" in out
    assert "Traceback" not in out
    assert [v for v, _ in tracked(database_dsn)] == [1, 2]
    # The app queued behind the ALTER only while it waited: at most one lock_timeout.
    assert load.samples and all(s.ok for s in load.samples)
    slowest = max(s.seconds for s in load.samples)
    print(f"\nRECOVERY blocked-migration: slowest app request {slowest:.3f} s")
    assert slowest < lock_timeout_ms / 1000 + 0.4


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("0002_no_up.sql", b"CREATE TABLE z (id int);\n", "no '-- migrate:up' section"),
        ("0002_bad_sql.sql", b"-- migrate:up\nCREATE TABLE z (id int;\n", "0002_bad_sql.sql:2"),
        ("0002_tx.sql", b"-- migrate:up\nBEGIN;\nCREATE TABLE z (id int);\nCOMMIT;\n", "BEGIN"),
        ("0002-bad-name.sql", b"-- migrate:up\nSELECT 1;\n", "NNNN_description.sql"),
        ("0001_duplicate.sql", b"-- migrate:up\nSELECT 1;\n", "version 1 is also used"),
        ("0002_latin1.sql", b"-- migrate:up\nCREATE TABLE caf\xe9 (id int);\n", "not valid UTF-8"),
        # An empty section is a recorded no-op (as in golang-migrate and dbmate), not an
        # error: tests/migrations/test_empty_sections.py covers it.
        ("0002_two_ups.sql", b"-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n", "migrate:up"),
    ],
)
def test_a_malformed_file_is_a_clear_error_and_nothing_is_applied(
    database_url: str,
    database_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    content: bytes,
    expected: str,
) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id int);", "DROP TABLE ok;")
    (tmp_path / name).write_bytes(content)
    code, out = run_main(monkeypatch, capsys, "up", database_url, tmp_path)
    assert code == 1
    assert expected in out and name in out.replace("\n", "")
    assert "Traceback" not in out
    assert tables(database_dsn) == set()  # not even 0001 ran, nor the tracking table


def test_an_unknown_target_version_is_a_clear_error_and_nothing_is_applied(
    database_url: str,
    database_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    three_migrations(tmp_path)
    code, out = run_main(monkeypatch, capsys, "up", database_url, tmp_path, "--to", "42")
    assert code == 1
    assert "42" in out and "Traceback" not in out
    assert tables(database_dsn) == set()


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    database_url: str,
    directory: Path,
    *extra: str,
) -> tuple[int, str]:
    """``pa-db migrate ...`` in-process through the real entry point (exit-code mapping)."""
    from personal_assistant.cli.main import main

    argv = ["pa-db", "migrate", command, "--database-url", with_password(database_url),
            "--directory", str(directory), *extra]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    out = captured.out + captured.err
    EVIDENCE.add("cli:migrate", out)
    return int(exit_info.value.code or 0), out
