"""One settings object, read from environment variables with local defaults.

Every location, seed and secret the platform uses comes from here, so the same code runs on a
laptop (the defaults) and on a larger deployment (environment variables set by the operator).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

#: Used only when ``RETAIL_PROFILE=demo`` (the default) and no key is configured. It is public,
#: so pseudonyms made with it protect nothing: the logs say so on every run that uses it.
DEMO_PSEUDONYMIZATION_KEY = "retail-assets-demo-key-not-secret-0123456789abcdef"
PROFILES = ("demo", "production")
#: Shortest accepted pseudonymization key (Google DLP's CryptoHashConfig asks for 32 bytes).
MIN_KEY_LENGTH = 32


#: Where web events come from: the simulator, or GA4 export files in <landing>/inbox/ga4/.
SESSIONS_SOURCES = ("simulator", "ga4")
#: Where app events come from: the simulator, or event files in <landing>/inbox/events/.
APP_EVENTS_SOURCES = ("simulator", "events_file")


#: What the delivery sends: the canonical plan and/or each ad platform's rendering of it.
DSP_TARGETS = ("canonical", "google_ads", "dv360", "meta", "ttd")

#: Where a run's steps execute (``RETAIL_EXECUTOR``): all in the run's process (the default,
#: for a laptop: parallelism comes from concurrent runs), a process per step, or a cluster.
EXECUTORS = ("in_process", "multiprocess", "k8s", "celery", "celery_k8s", "docker")

#: Sentence embeddings in the sentiment model (``RETAIL_SENTIMENT_EMBEDDINGS``): when the
#: ``embeddings`` extra is installed (the default), always (an error without it), never.
SENTIMENT_EMBEDDINGS = ("auto", "on", "off")

#: Levels of the forecast hierarchy: all sales, per category, per store x product.
FORECAST_LEVELS = ("total", "category", "store_product")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    """Platform settings. Build with :meth:`from_env`; every field has a local default."""

    data_dir: Path = Path("data")
    warehouse_path: Path = Path("data/warehouse.duckdb")
    lake_root: Path = Path("data/lake")
    landing_root: Path = Path("data/landing")
    seed: int = 42
    start_date: dt.date = dt.date(2025, 1, 1)
    demo_days: int = 365
    customers: int = 20_000
    profile: str = "demo"
    pseudonymization_key: str | None = field(default=None, repr=False)
    pseudonymization_key_file: Path | None = None
    key_id: str = "k1"
    #: ``(key_id, key or "file:PATH")`` of keys being rotated out (:func:`parse_previous_keys`).
    previous_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    forecast_horizon: int = 30
    #: Category series by default: a handful of series, each with every candidate
    #: cross-validated, in seconds. Store x product (~2,850 series at 20,000 customers) is
    #: opt-in: minutes of selection and seconds per forecast day (benchmarks/RESULTS.md).
    forecast_levels: tuple[str, ...] = ("category",)
    forecast_candidates: tuple[str, ...] = ()
    executor: str = "in_process"
    forecast_cv_windows: int = 3
    forecast_selection_margin: float = 0.05
    forecast_history_days: int = 730
    forecast_n_jobs: int = 1
    dask_scheduler: str = ""
    sessions_source: str = "simulator"
    app_events_source: str = "simulator"
    duckdb_memory_limit: str = ""
    model_training_days: int = 56
    sentiment_labels: str = ""
    sentiment_text_column: str = "text"
    sentiment_label_column: str = ""
    sentiment_rating_column: str = ""
    sentiment_embeddings: str = "auto"
    segments: int = 6
    propensity_horizon_days: int = 7
    retrain_psi_threshold: float = 0.25
    retrain_growth_share: float = 0.2
    retrain_metric_drop: float = 0.05
    media_history: str = ""
    dsp_sink: str = ""
    dsp_targets: tuple[str, ...] = DSP_TARGETS
    dsp_timeout: float = 10.0
    dsp_retries: int = 3
    raw_retention_days: int = 30
    #: Days a backfill run covers at most; 0 means the whole range in one run.
    backfill_max_days: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default: ``os.environ``)."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("RETAIL_DATA_DIR", "data"))
        profile = env.get("RETAIL_PROFILE", "demo").strip().lower()
        if profile not in PROFILES:
            raise SettingsError(f"RETAIL_PROFILE must be one of {PROFILES}, got {profile!r}")
        return cls(
            data_dir=data_dir,
            warehouse_path=Path(env.get("RETAIL_WAREHOUSE_PATH", data_dir / "warehouse.duckdb")),
            lake_root=Path(env.get("RETAIL_LAKE_ROOT", data_dir / "lake")),
            landing_root=Path(env.get("RETAIL_LANDING_ROOT", data_dir / "landing")),
            seed=_int(env, "RETAIL_SEED", 42, minimum=0),
            start_date=_date(env, "RETAIL_START_DATE", dt.date(2025, 1, 1)),
            demo_days=_int(env, "RETAIL_DEMO_DAYS", 365, minimum=1),
            customers=_int(env, "RETAIL_CUSTOMERS", 20_000, minimum=10),
            profile=profile,
            pseudonymization_key=env.get("RETAIL_PSEUDONYMIZATION_KEY") or None,
            pseudonymization_key_file=(
                Path(env["RETAIL_PSEUDONYMIZATION_KEY_FILE"].strip())
                if env.get("RETAIL_PSEUDONYMIZATION_KEY_FILE", "").strip()
                else None
            ),
            key_id=env.get("RETAIL_KEY_ID", "k1"),
            previous_keys=parse_previous_keys(env.get("RETAIL_PREVIOUS_KEYS", "")),
            forecast_horizon=_int(env, "RETAIL_FORECAST_HORIZON", 30, minimum=1),
            forecast_levels=_list(env, "RETAIL_FORECAST_LEVELS", FORECAST_LEVELS, ("category",)),
            forecast_candidates=_list(env, "RETAIL_FORECAST_CANDIDATES", None, ()),
            forecast_cv_windows=_int(env, "RETAIL_FORECAST_CV_WINDOWS", 3, minimum=1),
            forecast_selection_margin=_float(
                env, "RETAIL_FORECAST_SELECTION_MARGIN", 0.05, 0.0, 0.5
            ),
            forecast_history_days=_int(env, "RETAIL_FORECAST_HISTORY_DAYS", 730, minimum=14),
            forecast_n_jobs=_int(env, "RETAIL_FORECAST_N_JOBS", 1, minimum=-1),
            dask_scheduler=env.get("RETAIL_DASK_SCHEDULER", "").strip(),
            model_training_days=_int(env, "RETAIL_MODEL_TRAINING_DAYS", 56, minimum=14),
            sentiment_labels=env.get("RETAIL_SENTIMENT_LABELS", "").strip(),
            sentiment_text_column=env.get("RETAIL_SENTIMENT_TEXT_COLUMN", "text").strip(),
            sentiment_label_column=env.get("RETAIL_SENTIMENT_LABEL_COLUMN", "").strip(),
            sentiment_rating_column=env.get("RETAIL_SENTIMENT_RATING_COLUMN", "").strip(),
            sentiment_embeddings=_choice(env, "RETAIL_SENTIMENT_EMBEDDINGS", SENTIMENT_EMBEDDINGS),
            segments=_int(env, "RETAIL_SEGMENTS", 6, minimum=2),
            propensity_horizon_days=_int(env, "RETAIL_PROPENSITY_HORIZON_DAYS", 7, minimum=1),
            retrain_psi_threshold=_float(env, "RETAIL_RETRAIN_PSI", 0.25, 0.0),
            retrain_growth_share=_float(env, "RETAIL_RETRAIN_GROWTH", 0.2, 0.0),
            retrain_metric_drop=_float(env, "RETAIL_RETRAIN_METRIC_DROP", 0.05, 0.0, 1.0),
            media_history=env.get("RETAIL_MEDIA_HISTORY", "").strip(),
            dsp_sink=env.get("RETAIL_DSP_SINK", "").strip(),
            dsp_targets=_list(env, "RETAIL_DSP_TARGETS", DSP_TARGETS, DSP_TARGETS),
            dsp_timeout=_float(env, "RETAIL_DSP_TIMEOUT", 10.0, 0.1),
            dsp_retries=_int(env, "RETAIL_DSP_RETRIES", 3, minimum=0),
            raw_retention_days=_int(env, "RETAIL_RAW_RETENTION_DAYS", 30, minimum=1),
            backfill_max_days=_int(env, "RETAIL_BACKFILL_MAX_DAYS", 0, minimum=0),
            sessions_source=_choice(env, "RETAIL_SESSIONS_SOURCE", SESSIONS_SOURCES),
            app_events_source=_choice(env, "RETAIL_APP_EVENTS_SOURCE", APP_EVENTS_SOURCES),
            duckdb_memory_limit=_memory(env, "RETAIL_DUCKDB_MEMORY_LIMIT"),
            executor=_choice(env, "RETAIL_EXECUTOR", EXECUTORS),
        )

    def resolved_key(self) -> tuple[str, bool]:
        """Return ``(key, is_demo_key)``; outside the demo profile a missing key is an error.

        The key comes from ``RETAIL_PSEUDONYMIZATION_KEY`` or from the file named by
        ``RETAIL_PSEUDONYMIZATION_KEY_FILE`` (surrounding whitespace, such as the final
        newline, is ignored), never both. It must be at least 32 characters.
        """
        if self.pseudonymization_key and self.pseudonymization_key_file:
            raise SettingsError(
                "Set RETAIL_PSEUDONYMIZATION_KEY or RETAIL_PSEUDONYMIZATION_KEY_FILE, not both"
            )
        if self.pseudonymization_key_file:
            key = _read_key_file(self.pseudonymization_key_file, "RETAIL_PSEUDONYMIZATION_KEY_FILE")
            return key, False
        if self.pseudonymization_key:
            if len(self.pseudonymization_key) < MIN_KEY_LENGTH:
                raise SettingsError(
                    f"RETAIL_PSEUDONYMIZATION_KEY must be at least {MIN_KEY_LENGTH} characters "
                    f"(got {len(self.pseudonymization_key)})"
                )
            return self.pseudonymization_key, False
        if self.profile == "demo":
            return DEMO_PSEUDONYMIZATION_KEY, True
        raise SettingsError(
            "RETAIL_PSEUDONYMIZATION_KEY is not set. Outside the demo profile identifiers are "
            "pseudonymized with a secret key: set RETAIL_PSEUDONYMIZATION_KEY to at least 32 "
            "random characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`), "
            "or RETAIL_PSEUDONYMIZATION_KEY_FILE to a file holding one."
        )

    def resolved_previous_keys(self) -> dict[str, str]:
        """``{key_id: key}`` of the keys being rotated out (``RETAIL_PREVIOUS_KEYS``).

        Raises:
            SettingsError: A key file cannot be read, a key is shorter than 32 characters, or
                a previous key reuses the current ``key_id``.

        """
        keys: dict[str, str] = {}
        for key_id, source in self.previous_keys:
            name = f"RETAIL_PREVIOUS_KEYS ({key_id})"
            if key_id == self.key_id:
                raise SettingsError(f"{name} reuses the current RETAIL_KEY_ID")
            if source.startswith("file:"):
                keys[key_id] = _read_key_file(Path(source[len("file:") :].strip()), name)
            elif len(source) < MIN_KEY_LENGTH:
                raise SettingsError(
                    f"{name} must be at least {MIN_KEY_LENGTH} characters (got {len(source)})"
                )
            else:
                keys[key_id] = source
        return keys


_KEY_ID = re.compile(r"[A-Za-z0-9_.-]+")


def parse_previous_keys(
    raw: str, name: str = "RETAIL_PREVIOUS_KEYS"
) -> tuple[tuple[str, str], ...]:
    """Parse ``key_id=KEY,key_id=file:PATH,...`` into ``((key_id, source), ...)``.

    Each entry names a key being rotated out: either the key itself or ``file:`` and the path
    of a file holding it (read later, by :meth:`Settings.resolved_previous_keys`). Keys and
    paths cannot contain commas; a key may contain ``=``. Error messages never echo the
    value, since it may hold a key.

    Raises:
        SettingsError: An entry is not ``key_id=value``, a key id is not made of letters,
            digits, ``_``, ``.`` and ``-``, or a key id appears twice.

    """
    entries: list[tuple[str, str]] = []
    for n, item in enumerate((i.strip() for i in raw.split(",")), start=1):
        if not item:
            continue
        key_id, sep, source = (part.strip() for part in item.partition("="))
        if not sep or not source or not _KEY_ID.fullmatch(key_id):
            raise SettingsError(
                f"{name} entry {n} must look like key_id=KEY or key_id=file:PATH, with a key id "
                "of letters, digits, '_', '.' or '-'"
            )
        if any(key_id == k for k, _ in entries):
            raise SettingsError(f"{name} names key id {key_id!r} twice")
        entries.append((key_id, source))
    return tuple(entries)


def _read_key_file(path: Path, name: str) -> str:
    """The key held in ``path`` (whitespace trimmed); errors name ``name`` and the file."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SettingsError(f"{name}: cannot read key file {path}: {reason}") from None
    if len(key) < MIN_KEY_LENGTH:
        raise SettingsError(
            f"{name}: key file {path} holds {len(key)} characters; a key must be at least "
            f"{MIN_KEY_LENGTH}"
        )
    return key


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, choices[0]).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _list(
    env: dict[str, str],
    name: str,
    choices: tuple[str, ...] | None,
    default: tuple[str, ...],
) -> tuple[str, ...]:
    """A comma-separated list; with ``choices``, every item must be one of them."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    items = tuple(i.strip() for i in raw.split(",") if i.strip())
    bad = [i for i in items if choices is not None and i not in choices]
    if bad or not items:
        raise SettingsError(f"{name} must be a comma-separated list of {choices}, got {raw!r}")
    return items


def _int(env: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(
    env: dict[str, str], name: str, default: float, low: float, high: float | None = None
) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not (value >= low and (high is None or value <= high)):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise SettingsError(f"{name} must be {bound}, got {value}")
    return value


def _date(env: dict[str, str], name: str, default: dt.date) -> dt.date:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a date like 2025-01-01, got {raw!r}") from exc


def _memory(env: dict[str, str], name: str) -> str:
    """A DuckDB memory limit such as ``8GB``; empty means half of the machine's memory."""
    value = env.get(name, "").strip().replace(" ", "")
    if value and not re.fullmatch(r"\d+(\.\d+)?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value):
        raise SettingsError(f"{name} must look like 8GB or 512MiB, got {value!r}")
    return value
