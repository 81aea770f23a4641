"""What ``retail-assets materialize`` shows a person: one line per stage, then a summary.

A :class:`StageDisplay` draws a live progress line per stage with ``rich`` when standard
output is a terminal, and prints one plain line per finished stage otherwise (``CI=true``,
a pipe, a log file) or with ``--verbose`` (where Dagster's own event lines are printed too,
and a live display would be torn by them). A :class:`Stage` follows its Dagster run's step
events, delivered by ``DagsterInstance.add_event_listener`` as the run stores them: the
steps done out of the run's plan, the step in progress, and the warnings the steps logged.

Nothing here runs Dagster: ``retail_assets.cli`` runs the jobs and gathers the summary.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TaskID, TextColumn
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

#: Width of the stage names column.
NAME_WIDTH = 26


def is_ci() -> bool:
    """True when ``CI`` says we run in continuous integration (``true``/``1``/``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def make_console(*, stderr: bool = False) -> Console:
    """A console for standard output (or error) that never wraps a line under a person.

    Not a terminal (a pipe, a file, ``CI=true``): 120 columns (or ``COLUMNS``), no colour
    codes, no cursor movement.
    """
    console = Console(
        stderr=stderr,
        highlight=False,
        soft_wrap=True,
        force_terminal=False if is_ci() else None,
    )
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = 120  # rich's 80 for a file is narrower than any log viewer
    return console


def seconds(value: float) -> str:
    """``3.2 s``, ``95 s``, ``4 min 05 s``."""
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    return f"{int(value // 60)} min {int(value % 60):02d} s"


@dataclass
class StageFailure:
    """Why a stage stopped, and the run to look up in the UI.

    ``steps`` holds ``(step key, message)`` of each failed step (an empty step key for the run
    itself); ``run_id`` is None when no run was recorded.
    """

    stage: str
    steps: list[tuple[str, str]]
    run_id: str | None


@dataclass
class Stage:
    """One stage of the command: a Dagster run (or a few) and what its steps did."""

    name: str
    display: StageDisplay
    task: TaskID | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    total_steps: int = 0
    done_steps: int = 0
    running: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    detail: str = ""
    failed: bool = False

    @property
    def label(self) -> str:
        """The stage's name, as printed."""
        return self.name.strip()

    @property
    def elapsed(self) -> float:
        """Seconds since the stage started (until it ended)."""
        return (self.ended or time.monotonic()) - self.started

    def listener(self, instance, run_id: str) -> Callable:
        """A callback for ``instance.add_event_listener(run_id, ...)``: follows the run."""
        import dagster as dg

        self.run_ids.append(run_id)
        types = dg.DagsterEventType

        def on_event(entry) -> None:
            event = entry.dagster_event
            if event is None:
                if entry.level >= logging.WARNING and entry.step_key:
                    self.warnings.append((entry.step_key, entry.user_message))
                return
            kind = event.event_type
            if kind == types.RUN_START:
                # The run's plan is stored before it starts: its steps are the stage's total.
                run = instance.get_run_by_id(run_id)
                if run is not None and run.execution_plan_snapshot_id:
                    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
                    self.total_steps += len(plan.step_keys_to_execute)
            elif kind == types.STEP_START:
                self.running.append(event.step_key)
            elif kind in (types.STEP_SUCCESS, types.STEP_FAILURE, types.STEP_SKIPPED):
                if event.step_key in self.running:
                    self.running.remove(event.step_key)
                self.done_steps += 1
            else:
                return
            self.display.update(self)

        return on_event


def step_label(step_key: str) -> str:
    """``features__user_features`` -> ``features/user_features`` (an asset key, as in the UI)."""
    return step_key.replace("__", "/")


class StageDisplay:
    """One line per stage: live with rich on a terminal, plain lines otherwise."""

    def __init__(self, console: Console, *, live: bool) -> None:
        self.console = console
        self.live = live
        self._progress: Progress | None = None
        self.stages: list[Stage] = []

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> StageDisplay:
        if self.live:
            self._progress = Progress(
                _StatusColumn(),
                TextColumn("{task.description}", style="bold"),
                BarColumn(bar_width=16),
                _StepsColumn(),
                _ElapsedColumn(),
                TextColumn("{task.fields[detail]}", style="dim"),
                console=self.console,
                transient=False,
                refresh_per_second=4,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """A stage that is finished (with its time) when the block ends."""
        stage = Stage(name.ljust(NAME_WIDTH), self)
        self.stages.append(stage)
        if self._progress is not None:
            stage.task = self._progress.add_task(
                stage.name, total=None, detail="", stage=stage, start=True
            )
        try:
            yield stage
        except BaseException:
            stage.failed = True
            raise
        finally:
            stage.ended = time.monotonic()
            self._finish(stage)

    def update(self, stage: Stage) -> None:
        """Redraw ``stage``'s line: steps done, the step in progress."""
        if self._progress is None or stage.task is None:
            return
        now = step_label(stage.running[-1]) if stage.running else ""
        self._progress.update(
            stage.task,
            total=stage.total_steps or None,
            completed=stage.done_steps,
            detail=now,
        )

    def _finish(self, stage: Stage) -> None:
        if self._progress is not None and stage.task is not None:
            self._progress.update(
                stage.task,
                total=max(stage.total_steps, stage.done_steps, 1),
                completed=stage.done_steps if stage.failed else max(stage.total_steps, 1),
                detail=stage.detail if not stage.failed else "failed",
            )
            self._progress.stop_task(stage.task)
            return
        mark = "FAILED" if stage.failed else "done"
        steps = f"{stage.done_steps}/{stage.total_steps} steps" if stage.total_steps else ""
        line = Text.assemble(
            (f"{mark:<6} ", "red" if stage.failed else "green"),
            (stage.name, "bold"),
            f" {steps:>13}  {seconds(stage.elapsed):>10}",
            (f"  {stage.detail}" if stage.detail else "", "dim"),
        )
        self.console.print(line)


class _StatusColumn(ProgressColumn):
    def __init__(self) -> None:
        super().__init__()
        self.spinner = Spinner("dots", style="yellow")

    def render(self, task):  # noqa: D102
        stage: Stage = task.fields["stage"]
        if stage.failed:
            return Text("✗", style="bold red")
        if stage.ended is not None:
            return Text("✓", style="bold green")
        return self.spinner.render(task.get_time())


class _StepsColumn(ProgressColumn):
    def render(self, task) -> Text:  # noqa: D102
        stage: Stage = task.fields["stage"]
        if not stage.total_steps:
            return Text(" " * 11)
        return Text(f"{stage.done_steps:>3}/{stage.total_steps:<3} steps")


class _ElapsedColumn(ProgressColumn):
    max_refresh = 0.5

    def render(self, task) -> Text:  # noqa: D102
        stage: Stage = task.fields["stage"]
        return Text(f"{seconds(stage.elapsed):>10}", style="cyan")


# ---------------------------------------------------------------------------- summary
def grid(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], columns: int = 1):
    """A borderless table of ``rows``, laid out ``columns`` side by side to save lines."""
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
        padding=(0, 1),
        show_header=True,
        header_style="dim",
    )
    per = -(-len(rows) // columns) if rows else 0
    for c in range(columns):
        for i, name in enumerate(header):
            table.add_column(name, justify="right" if i else "left", no_wrap=True)
        if c < columns - 1:
            table.add_column(" ", width=2)
    for r in range(per):
        cells: list[str] = []
        for c in range(columns):
            i = c * per + r
            cells += list(rows[i]) if i < len(rows) else [""] * len(header)
            if c < columns - 1:
                cells.append("")
        table.add_row(*cells)
    return table


def print_failure(console: Console, failure: StageFailure, home: str | Path) -> None:
    """The failing stage, each failing step with its message, and where to read the run."""
    console.print(Text.assemble(("FAILED ", "bold red"), (failure.stage, "bold")))
    for step, message in failure.steps[:5]:
        lines = message.splitlines() or [""]
        head = f"  step {step_label(step)}: " if step else "  error: "
        console.print(Text(head + lines[0]))
        for line in lines[1:10]:
            console.print(Text("    " + line))
        if len(lines) > 10:
            console.print(Text(f"    ... {len(lines) - 10} more lines in the run's event log"))
    if len(failure.steps) > 5:
        console.print(Text(f"  and {len(failure.steps) - 5} more failed steps"))
    if failure.run_id:
        console.print(
            Text(
                f"  run {failure.run_id}: open it with `retail-assets ui` (Runs; "
                f"DAGSTER_HOME={home}) or rerun with --verbose"
            )
        )


def rows_text(n: int | None, exact: bool = True) -> str:
    """``1,234,567`` (or ``1.2M`` when space is short); ``?`` when unknown."""
    if n is None:
        return "?"
    if exact or n < 10_000:
        return f"{n:,}"
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _natural_width(renderable) -> int:
    """Columns ``renderable`` takes when nothing limits it (rich's measure may shrink it)."""
    import io

    probe = Console(file=io.StringIO(), width=1000, no_color=True)
    probe.print(renderable)
    return max((len(line.rstrip()) for line in probe.file.getvalue().splitlines()), default=0)


def print_summary(
    console: Console, summary: dict, *, warehouse: str, home: str, took: float, runs: int
) -> None:
    """Tables and rows, the models, the delivered plan, and how to look further."""
    tables = summary["tables"]
    days = summary["days"]
    console.print()
    if not tables:
        console.print(Text(f"No tables in the catalog {warehouse} (busy or missing)."))
    else:
        title = (
            f"Tables in {warehouse} ({len(tables)}; the daily ones hold {len(days)} days "
            f"{days[0]}..{days[-1]} unless said)"
        )
        # Two blocks side by side (about 40 tables in 25 lines), exact counts if they fit.
        for exact, indent in ((True, "  "), (False, "  "), (False, "")):
            rows = []
            schema = None
            for s, t, n, d in tables:
                if s != schema:
                    rows.append((Text(s, style="bold"), "", ""))
                    schema = s
                whole = "whole" if exact else "-"
                rows.append((f"{indent}{t}", rows_text(n, exact), str(d) if d else whole))
            table = grid(title, ("table", "rows", "days"), rows, 2)
            if _natural_width(table) <= console.width:
                break
        console.print(table)
    console.print()
    models = Table(
        title="Models", title_justify="left", title_style="bold", box=None, pad_edge=False
    )
    # Fixed widths: rich would squeeze (or drop) a short column to fit a long headline. A
    # narrow console leaves out what the models were trained on.
    columns = [("model", 19), ("ver", 4), ("trained on", 40), ("headline", 0)]
    if console.width < 110:
        del columns[2]
    fixed = sum(w for _, w in columns) + 2 * (len(columns) - 1)
    for name, width in columns:
        models.add_column(
            name,
            header_style="dim",
            no_wrap=True,
            overflow="ellipsis",
            width=width or max(20, console.width - fixed),
        )
    for m in summary["models"]:
        cells = [m["model"], m["version"], m["trained_on"], m["headline"]]
        models.add_row(*(cells if len(columns) == 4 else cells[:2] + cells[3:]))
    console.print(models)
    console.print()
    delivery = summary["delivery"]
    if delivery["receipts"]:
        statuses: dict[str, list[str]] = {}
        for target, status in delivery["receipts"]:
            statuses.setdefault(status, []).append(target)
        sent = "; ".join(f"{s}: {', '.join(t)}" for s, t in statuses.items())
        console.print(Text.assemble(("Plan ", "bold"), f"delivered to {delivery['sink']} ({sent})"))
        if delivery["payload"]:
            console.print(Text(f"  verify it: retail-assets verify {delivery['payload']}"))
    else:
        console.print(Text.assemble(("Plan ", "bold"), "not delivered"))
    warnings = summary["warnings"]
    if warnings:
        seen: dict[str, str] = {}
        for step, message in warnings:
            label = step_label(step)
            first = (message.splitlines() or [""])[0]
            seen.setdefault(first.removeprefix(f"{label}: "), label)
        console.print(
            Text.assemble(
                ("Warnings ", "bold yellow"), f"({len(warnings)}; every event is in the UI)"
            )
        )
        for message, label in list(seen.items())[:3]:
            console.print(
                Text(f"  {label}: {message}"), no_wrap=True, overflow="ellipsis", soft_wrap=False
            )
        if len(seen) > 3:
            console.print(Text(f"  and {len(seen) - 3} more"))
    console.print(
        Text.assemble(
            ("UI     ", "bold"), f"retail-assets ui   (then http://127.0.0.1:3000; runs in {home})"
        )
    )
    names = [f"{schema}.{table}" for schema, table, *_ in summary.get("tables", [])]
    example = next(
        (n for n in ("features.executive_summary", "features.user_features") if n in names),
        names[0] if names else "features.executive_summary",
    )
    query = (
        f"python -c \"import duckdb; print(duckdb.connect('{warehouse}', read_only=True)"
        f".sql('select * from {example} order by 1 desc limit 5'))\""
    )
    console.print(Text.assemble(("Query  ", "bold"), query))
    console.print(Text(f"Done in {seconds(took)} ({runs} Dagster runs)."))
