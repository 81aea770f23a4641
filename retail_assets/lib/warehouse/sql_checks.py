"""A run's checks over all its windows: the pandera contract and every declared test, summed.

``RunChecks`` gathers each window's outcome as it is checked, so a range run reports one result
per check (failing rows, first examples, failed days); ``ChecksFailed`` carries it when a
blocking check failed and nothing was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from retail_assets.lib.warehouse import schemas
from retail_assets.lib.warehouse.sql_execute import ModelResult
from retail_assets.lib.warehouse.sql_header import ModelTest
from retail_assets.lib.warehouse.sql_models import SqlModel

#: Up to this many failed days are named one by one in a failure message.
_NAMED_DAYS = 10


def _span(days: Sequence[str]) -> str:
    if not days:
        return "(no days)"
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"


def _named(days: Sequence[str]) -> str:
    """Days as a list, shortened beyond :data:`_NAMED_DAYS`."""
    if len(days) <= _NAMED_DAYS:
        return ", ".join(days)
    return ", ".join(days[:_NAMED_DAYS]) + f", ... ({len(days) - _NAMED_DAYS} more)"


@dataclass
class TestSummary:
    """One declared test over every window of a run."""

    test: ModelTest
    failing_rows: int = 0
    examples: list[str] = field(default_factory=list)
    #: Failing rows by day (incremental models).
    failing_days: dict[str, int] = field(default_factory=dict)
    #: Windows whose failures could not be told by day (``[start, end)``).
    failing_windows: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no row of any window failed."""
        return self.failing_rows == 0

    @property
    def blocking(self) -> bool:
        """True for ``error`` severity."""
        return self.test.severity == "error"

    def where(self) -> str:
        """The failed days with their rows, e.g. ``2025-03-06 (2 rows)``."""
        parts = [f"{d} ({n} rows)" for d, n in sorted(self.failing_days.items())]
        if len(parts) > _NAMED_DAYS:
            parts = parts[:_NAMED_DAYS] + [f"... ({len(parts) - _NAMED_DAYS} more days)"]
        return ", ".join(parts + self.failing_windows)


@dataclass
class RunChecks:
    """The blocking pandera contract and every declared test, over all windows of a run.

    Each window's outcome is added as it is checked; a run reports one result per check:
    failing rows summed, the first examples, the days that failed.
    """

    model: SqlModel
    rows: int = 0
    days: list[str] = field(default_factory=list)
    windows: int = 0
    schema_failures: list[dict] = field(default_factory=list)
    schema_failed_days: list[str] = field(default_factory=list)
    tests: dict[str, TestSummary] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tests = {t.name: TestSummary(t) for t in self.model.tests}

    @property
    def name(self) -> str:
        """``schema.table``."""
        return f"{self.model.schema}.{self.model.name}"

    def add(self, result: ModelResult, report: schemas.ValidationReport) -> None:
        """Take one window's test outcomes and contract report."""
        days = result.days()
        window = f"[{result.start}, {result.end})" if days else "(all)"
        self.rows += result.frame.height
        self.days += days
        self.windows += 1
        for failure in report.failures:
            same = [
                f
                for f in self.schema_failures
                if (f["column"], f["check"]) == (failure["column"], failure["check"])
            ]
            if same:
                same[0]["failed_rows"] += failure["failed_rows"]
            else:
                self.schema_failures.append(dict(failure))
        if not report.passed:
            self.schema_failed_days += days
        for outcome in result.tests:
            summary = self.tests[outcome.test.name]
            if outcome.passed:
                continue
            summary.failing_rows += outcome.failing_rows
            room = 3 - len(summary.examples)
            if room > 0:
                summary.examples += outcome.examples[:room]
            for day, n in outcome.failing_days.items():
                summary.failing_days[day] = summary.failing_days.get(day, 0) + n
            if days and sum(outcome.failing_days.values()) < outcome.failing_rows:
                summary.failing_windows.append(window)

    @property
    def report(self) -> schemas.ValidationReport:
        """The contract's outcome over every window (failures merged by column and check)."""
        return schemas.ValidationReport(
            table=self.name,
            rows=self.rows,
            failures=self.schema_failures,
            source=f"dbt_like_sql/{self.model.rel}",
        )

    def failed_tests(self) -> list[TestSummary]:
        """Blocking declared tests that failed on some window."""
        return [t for t in self.tests.values() if t.blocking and not t.passed]

    @property
    def passed(self) -> bool:
        """True when the contract and every blocking test passed on every window so far."""
        return not self.schema_failures and not self.failed_tests()

    def failed_days(self) -> list[str]:
        """Days on which a blocking check failed, oldest first."""
        days = set(self.schema_failed_days)
        for t in self.failed_tests():
            days.update(t.failing_days)
        return sorted(days)

    def message(self) -> str:
        """What failed, on which days and rows, one line per check."""
        lines = []
        failed = self.failed_days()
        if len(self.days) > 1 and failed:
            lines.append(
                f"{self.name}: blocking checks failed on {len(failed)} of {len(self.days)} "
                f"day(s) ({_span(self.days)}): {_named(failed)}"
            )
        if self.schema_failures:
            message = self.report.message()
            if self.schema_failed_days and len(self.days) > 1:
                message += f"\n  (days {_span(self.schema_failed_days)})"
            lines.append(message)
        for t in self.failed_tests():
            where = t.where()
            lines.append(
                f"test {t.test.name} failed on {t.failing_rows} of {self.rows} rows"
                + (f" ({where})" if where and self.days else "")
                + f": {t.test.description}"
                + (
                    f" (e.g. {'; '.join(schemas.mask_pii(e) for e in t.examples)})"
                    if t.examples
                    else ""
                )
            )
        return "\n".join(lines)


class ChecksFailed(RuntimeError):
    """A blocking check failed on some window; nothing was written. Carries what was found."""

    def __init__(self, message: str, checks: RunChecks):
        super().__init__(message)
        self.checks = checks

    @property
    def report(self) -> schemas.ValidationReport:
        """The pandera contract's outcome over every window checked."""
        return self.checks.report

    @property
    def failed_days(self) -> list[str]:
        """Days on which a blocking check failed (empty for a table or view)."""
        return self.checks.failed_days()
