"""What ``pa-db migrate up`` and ``down`` say: every step, and how a failed run ended.

:class:`StepReport` hears the manager's events. In the terminal it prints one line per
migration applied or rolled back (version, description, time taken) as it happens,
under a progress bar; with ``--json`` it prints one document at the end instead. When
the run fails it says which migrations this run completed, which one failed, in what
state that left the database, and what was not run.

Imported by the commands that use it, never at ``pa-db --help`` time: only the
standard library and rich's console here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import typer

from personal_assistant.cli.common import console, err_console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from personal_assistant.database.migrations import Event, StepResult

Direction = Literal["up", "down"]
_VERB = {"up": "applied", "down": "rolled back"}
_DOING = {"up": "applying", "down": "rolling back"}


def _step(version: int, file_name: str, description: str) -> str:
    return f"{file_name} (version {version}, {description})"


def _step_json(event: Event) -> dict[str, Any]:
    return {
        "version": event.version,
        "description": event.description,
        "file": event.file_name,
        "direction": event.direction,
        "ms": event.ms,
    }


class StepReport:
    """Renders one ``up`` or ``down`` run from its events and its outcome."""

    def __init__(self, direction: Direction, *, as_json: bool) -> None:
        self.direction = direction
        self.as_json = as_json
        self.planned: list[Event] = []
        self.done: list[Event] = []
        self.failed: Event | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    # -- while it runs ----------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """The manager's callback."""
        if event.kind == "planned":
            self.planned.append(event)
        elif event.kind == "wait":
            self._say(f"[yellow]waiting[/] for the migration lock, held by {event.detail}")
        elif event.kind == "start":
            self._started(event)
        elif event.kind == "retry":
            self._say(f"[yellow]retrying[/] {event.file_name}: {event.detail}")
        elif event.kind == "done":
            self.done.append(event)
            self._finished(event)
        elif event.kind == "failed":
            self.failed = event

    def _say(self, markup: str) -> None:
        """A line for the operator: stdout in the terminal, stderr under ``--json``."""
        target = err_console if self.as_json else (self._bar.console if self._bar else console)
        target.print(markup)

    def _started(self, event: Event) -> None:
        if self.as_json:
            return
        if self._bar is None:
            self._bar = _progress_bar()
            self._task = self._bar.add_task(_DOING[self.direction], total=len(self.planned))
            self._bar.start()
        assert self._task is not None
        self._bar.update(self._task, description=f"{_DOING[self.direction]} {event.file_name}")

    def _finished(self, event: Event) -> None:
        if self.as_json:
            return
        step = _step(event.version, event.file_name, event.description)
        self._say(f"[green]{_VERB[event.direction]}[/] {step} in {event.ms} ms")
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def stop(self) -> None:
        """Take the progress bar down (idempotent)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    # -- at the end -------------------------------------------------------------------

    def finish(self, results: Sequence[StepResult]) -> None:
        """The run succeeded: a closing line, or the JSON document."""
        self.stop()
        total = sum(r.execution_ms for r in results)
        if self.as_json:
            steps = [_step_json(e) for e in self.done]
            document = {"command": self.direction, "ok": True, "steps": steps}
            typer.echo(json.dumps(document, indent=2))
        elif not results and self.direction == "up":
            console.print("[green]nothing to do[/]: the database is up to date")
        elif not results:
            console.print("[green]nothing to roll back[/]")
        else:
            console.print(f"{len(results)} migration(s) {_VERB[self.direction]} in {total} ms")

    def fail(self, error: BaseException) -> None:
        """The run failed: what it completed, what failed and how, what it did not run."""
        self.stop()
        ran = {e.version for e in self.done}
        failed = self.failed
        left = [e for e in self.planned if e.version not in ran and e is not failed]
        if failed is not None:
            left = [e for e in left if e.version != failed.version]
        if self.as_json:
            typer.echo(json.dumps(self._failure_json(error, left), indent=2))
            return
        verb = _VERB[self.direction]
        lines = ["[bold red]the run stopped[/]"]
        if not self.planned:
            lines.append("  nothing was run (the checks before the first step failed)")
        else:
            names = ", ".join(e.file_name for e in self.done) or "none"
            lines.append(f"  this run {verb} {len(self.done)} of {len(self.planned)}: {names}")
        if failed is not None:
            step = _step(failed.version, failed.file_name, failed.description)
            lines.append(f"  [bold red]failed[/] {step}")
            lines.append(f"    database state: {failed.detail}")
        if left:
            lines.append(f"  not run: {', '.join(e.file_name for e in left)}")
        err_console.print("\n".join(lines))

    def _failure_json(self, error: BaseException, left: list[Event]) -> dict[str, Any]:
        failed = self.failed
        return {
            "command": self.direction,
            "ok": False,
            "completed": [_step_json(e) for e in self.done],
            "failed": None
            if failed is None
            else {**_step_json(failed), "state": failed.detail, "error": str(error)},
            "not_run": [
                {"version": e.version, "description": e.description, "file": e.file_name}
                for e in left
            ],
            "error": str(error),
        }


def _progress_bar() -> Progress:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
