"""``retail-assets materialize`` as a person runs it: the console script, in a subprocess.

Each run gets its own data folder (``RETAIL_DATA_DIR``) and Dagster instance
(``DAGSTER_HOME``) in a temp folder; standard output is a pipe, so the command prints plain
lines (no live redraws), as it does in CI. Nothing of ours is mocked.

The main run is the README's command at a small scale: ``--customers 2000`` and the default
history (``RETAIL_DEMO_DAYS``, a year), so that every model has the data it needs to train.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from retail_assets.lib.ml.registry import ModelRegistry

#: The main run is a year of history: about 9 minutes on a shared 2-core machine at load 6,
#: most of it Dagster recording 4,745 per-day materializations. Its first test pays for it.
pytestmark = pytest.mark.timeout(2700)

CUSTOMERS = 2_000
#: What the command may print by default, all told (standard output and error).
MAX_LINES = 60
#: One line per stage, in order.
STAGES = [
    "load definitions",
    "reference data",
    "history of {days} days",
    "feature tables",
    "forecast selection",
    "forecasts",
    "model training",
    "monitoring",
    "activation",
]
#: The runs the command makes on the instance, in order (the UI lists them).
JOBS = [
    "reference_data",
    "all_assets",
    "feature_tables",
    "forecast_model_selection",
    "forecasts",
    "model_training",
    "model_monitoring",
    "activation",
]
#: Summary rows of the models, and the registry names of those kept in the model registry.
MODELS = {
    "forecast selection": None,
    "review sentiment": "review_sentiment",
    "sales direction": "sales_direction",
    "purchase propensity": "purchase_propensity",
    "customer segments": "customer_segments",
}
RUN_ID = re.compile(r"\brun ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


def _command() -> list[str]:
    """The installed ``retail-assets`` script beside this interpreter (else ``-m``)."""
    script = Path(sys.executable).with_name("retail-assets")
    if script.exists():
        return [str(script)]
    found = shutil.which("retail-assets")
    return [found] if found else [sys.executable, "-m", "retail_assets.cli"]


def _env(root: Path, **extra: str) -> dict[str, str]:
    """This environment without any RETAIL_*, DAGSTER_HOME or CI setting, pointed at ``root``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RETAIL_", "DAGSTER_")) and k not in ("CI", "COLUMNS")
    }
    env.update(RETAIL_DATA_DIR=str(root / "data"), DAGSTER_HOME=str(root / "dagster_home"))
    env.update(extra)
    return env


class Run:
    """A finished ``retail-assets materialize`` and where it left its data."""

    def __init__(self, root: Path, proc: subprocess.CompletedProcess) -> None:
        self.root = root
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.lines = (proc.stdout + proc.stderr).splitlines()

    @property
    def warehouse(self) -> Path:
        return self.root / "data" / "warehouse.duckdb"

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.root / "dagster_home"))

    def __repr__(self) -> str:  # what pytest shows when an assertion fails
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def materialize(root: Path, *args: str, timeout: float = 2400, **env: str) -> Run:
    root.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [*_command(), "materialize", *args],
        cwd=root,
        env=_env(root, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(root, proc)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    """The main command at 2,000 customers over the default history."""
    return materialize(tmp_path_factory.mktemp("cli") / "demo", "--customers", str(CUSTOMERS))


def _section(run: Run, title: str) -> list[str]:
    """The lines of the summary section starting with ``title``, up to the next blank line."""
    lines = run.out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_materialize_prints_a_short_readable_console(run):
    assert run.code == 0, run
    assert len(run.lines) <= MAX_LINES, run
    text = "\n".join(run.lines)
    assert "DEBUG" not in text, run
    assert "Traceback" not in text and "Warning:" not in text, run
    # No live redraws in a pipe: no cursor movement or colour codes.
    assert "\x1b" not in text and "\r" not in text, run
    days = int(re.search(r": (\d+) days ", run.lines[0]).group(1))
    assert days == 365, run
    stage_lines = [line for line in run.lines if line.startswith("done ")]
    names = [s.format(days=days) for s in STAGES]
    assert [re.split(r"\s{2,}", line[6:].strip())[0] for line in stage_lines] == names, run
    assert all(re.search(r"\d(\.\d)? s\b|\d+ min \d\d s", line) for line in stage_lines), run
    assert run.lines[-1].startswith("Done in "), run


def test_the_summary_names_every_table_with_its_rows(run):
    assert run.code == 0, run
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        views = con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        counts = {
            (s, t): con.execute(f"SELECT count(*) FROM {s}.{t}").fetchone()[0] for s, t in views
        }
    assert len(views) >= 35
    tables = _section(run, "Tables in ")
    assert str(Path("data") / "warehouse.duckdb") in tables[0]
    body = "\n".join(tables[2:])
    # Two blocks side by side: "name  rows  days" cells, each schema's name above its tables.
    cells = set(re.findall(r"\b([a-z_]+) +([\d,]+) +(?:\d+|whole)\b", body))
    words = set(body.split())
    for schema, table in views:
        assert schema in words, schema
        assert (table, f"{counts[(schema, table)]:,}") in cells, (schema, table, counts)


def test_the_summary_says_where_the_plan_went_and_how_to_look(run):
    assert run.code == 0, run
    plan = next(line for line in run.lines if line.startswith("Plan "))
    outbox = run.root / "data" / "outbox"
    assert "delivered to data/outbox" in plan and "ttd" in plan, run
    assert any(f.is_file() for f in outbox.rglob("*")), "nothing in the outbox"
    assert any(line.startswith("UI ") and "retail-assets ui" in line for line in run.lines)
    query = next(line for line in run.lines if line.startswith("Query "))
    one_liner = query.split(None, 1)[1]
    assert one_liner.startswith("python -c ") and "data/warehouse.duckdb" in one_liner
    # The one-liner works as printed, from where the command ran.
    result = subprocess.run(
        one_liner.replace("python", sys.executable, 1),
        shell=True,
        cwd=run.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "revenue" in result.stdout or "│" in result.stdout, result.stdout


def test_the_runs_are_in_the_instance_and_the_history_is_one_run(run):
    assert run.code == 0, run
    with run.instance() as instance:
        runs = list(reversed(instance.get_runs()))  # oldest first
        assert [r.job_name for r in runs] == JOBS
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        history = runs[1]
        start = history.tags["dagster/asset_partition_range_start"]
        end = history.tags["dagster/asset_partition_range_end"]
        assert (runs[4].tags["dagster/partition"], runs[7].tags["dagster/partition"]) == (end, end)
        records = instance.fetch_materializations(dg.AssetKey(["governed", "sessions"]), limit=400)
        days = sorted(r.partition_key for r in records.records)
        assert (len(days), days[0], days[-1]) == (365, start, end)
        assert {r.run_id for r in records.records} == {history.run_id}


def test_every_model_has_a_real_champion(run):
    """Each model trained for real on the year: not a placeholder, an empty table or a rule."""
    assert run.code == 0, run
    lake = run.root / "data" / "lake"
    registry = ModelRegistry(lake)
    models = _section(run, "Models")
    for label, name in MODELS.items():
        line = next((m for m in models if m.startswith(label)), None)
        assert line is not None, f"no summary line for {label}\n{run}"
        assert "not trained" not in line and "not materialized" not in line, line
        if name:
            champion = registry.champion(name)
            assert champion is not None, f"{name} has no champion"
            assert re.search(rf"\bv{champion.version}\b", line), line
    with run.instance() as instance:

        def metadata(key: str) -> dict:
            event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
            assert event is not None, f"{key} was never materialized"
            return event.asset_materialization.metadata

        for key in (
            "ml/review_sentiment",
            "ml/sales_direction_model",
            "ml/purchase_propensity",
            "ml/customer_segments",
        ):
            meta = metadata(key)
            # A model without enough history publishes an empty table marked `not_trained`.
            assert "not_trained" not in meta, (key, meta["not_trained"].value)
            assert "trained" not in meta or meta["trained"].value is True, key
        assert metadata("ml/review_sentiment")["macro_f1"].value > 0.5
        assert metadata("ml/sales_direction_model")["holdout_roc_auc"].value > 0
        assert metadata("ml/purchase_propensity")["pr_auc"].value > 0
        assert len(metadata("ml/customer_segments")["segments"].value) >= 2
    # Forecast selection: series whose model won the rolling-origin cross-validation.
    choices = pl.read_parquet(lake / "ml" / "forecast_models" / "data.parquet")
    assert choices.filter(pl.col("cv_mase").is_not_null()).height > 0, choices
    for table in ("sales_direction_model", "purchase_propensity", "customer_segments"):
        assert pl.read_parquet(lake / "ml" / table / "data.parquet").height > 0, table


def test_a_bad_setting_is_named_before_anything_runs(tmp_path):
    bad = materialize(tmp_path / "bad", RETAIL_CUSTOMERS="lots", timeout=300)
    assert bad.code == 2, bad
    assert "RETAIL_CUSTOMERS" in bad.err and "Traceback" not in bad.err, bad
    assert len(bad.lines) <= 3, bad
    too_few = materialize(tmp_path / "few", "--customers", "5", timeout=300)
    assert too_few.code == 2, too_few
    assert "--customers" in too_few.err and "at least 10" in too_few.err, too_few
    assert not (tmp_path / "bad" / "dagster_home").exists()


def test_a_corrupt_inbox_file_stops_the_command_naming_stage_step_and_run(tmp_path):
    root = tmp_path / "corrupt"
    inbox = root / "data" / "landing" / "inbox" / "ga4"
    inbox.mkdir(parents=True)
    (inbox / "events_20250301.json").write_text('{"event_date": "20250301", "event_name": ')
    (inbox / "events_20250302.json").write_text("this is not an export\n")
    failed = materialize(
        root,
        "--customers",
        "200",
        "--start",
        "2025-03-01",
        "--end",
        "2025-03-02",
        RETAIL_SESSIONS_SOURCE="ga4",
        timeout=1800,
    )
    assert failed.code == 1, failed
    assert len(failed.lines) <= MAX_LINES, failed
    assert "Traceback" not in failed.out + failed.err, failed
    assert "FAILED history of 2 days" in failed.err, failed
    assert "step raw/sessions:" in failed.err, failed
    assert "events_20250301.json" in failed.err, failed
    run_id = RUN_ID.search(failed.err)
    assert run_id, failed
    with failed.instance() as instance:
        record = instance.get_run_by_id(run_id.group(1))
        assert record is not None and record.job_name == "all_assets"
        assert record.status == dg.DagsterRunStatus.FAILURE
    # Nothing after the failing stage ran: no plan was made.
    assert not (root / "data" / "lake" / "activation").exists()
    assert "Models" not in failed.out
