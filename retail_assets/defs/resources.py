"""The platform resource: locations, seed, scale and the pseudonymization key, in one place."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

import dagster as dg
from pydantic import Field

from retail_assets.lib.activation.creatives.generation import TemplateGenerator
from retail_assets.lib.activation.creatives.model import CreativeGenerator
from retail_assets.lib.config import (
    ActivationConfig,
    ChannelsConfig,
    CreativesConfig,
    load_activation_config,
    load_channels_config,
    load_creatives_config,
    load_simulation_config,
)
from retail_assets.lib.governance.pseudonyms import KeyRing, Pseudonymizer
from retail_assets.lib.settings import Settings, SettingsError, parse_previous_keys
from retail_assets.lib.sources.declarations import ConsentPolicy, World
from retail_assets.lib.sources.simulator import Simulator
from retail_assets.lib.sources.world import load_world
from retail_assets.lib.warehouse.lake import Lake


@lru_cache(maxsize=2)
def _simulator(config_dir: str | None, seed: int, customers: int) -> Simulator:
    # The customer base and lookup tables are built on first use and cached on the
    # Simulator; keeping it saves rebuilding them for every partition a process runs.
    config = load_simulation_config(Path(config_dir) if config_dir else None)
    return Simulator(config, seed=seed, customers=customers)


class RetailPlatform(dg.ConfigurableResource):
    """Where the warehouse lives and how data is simulated and pseudonymized.

    Built from environment variables (see the README) by :meth:`from_settings`; tests build it
    directly with temporary folders.
    """

    lake_root: str = Field(description="Root folder of the Parquet lake (RETAIL_LAKE_ROOT).")
    landing_root: str = Field(description="Landing area for raw data with PII.")
    warehouse_path: str = Field(description="DuckDB catalog file users query.")
    seed: int = Field(default=42, description="Base random seed of the simulator.")
    customers: int = Field(default=20_000, description="Simulated customer base size.")
    profile: str = Field(default="demo", description="'demo' or 'production'.")
    pseudonymization_key: str | None = Field(
        default=None, description="HMAC key (RETAIL_PSEUDONYMIZATION_KEY)."
    )
    pseudonymization_key_file: str | None = Field(
        default=None,
        description="File holding the HMAC key, instead of the key itself "
        "(RETAIL_PSEUDONYMIZATION_KEY_FILE).",
    )
    key_id: str = Field(default="k1", description="Name of the key, stored with each pseudonym.")
    previous_keys: str | None = Field(
        default=None,
        description="Keys being rotated out, key_id=KEY or key_id=file:PATH, comma-separated "
        "(RETAIL_PREVIOUS_KEYS).",
    )
    forecast_horizon: int = Field(
        default=30, description="Days ahead the forecasts reach (RETAIL_FORECAST_HORIZON)."
    )
    forecast_levels: list[str] = Field(
        default=["category"],
        description="Levels of the series hierarchy forecast: total, category, store_product "
        "(RETAIL_FORECAST_LEVELS).",
    )
    forecast_candidates: list[str] = Field(
        default=[],
        description="Models cross-validation chooses among (RETAIL_FORECAST_CANDIDATES; "
        "default AutoETS, AutoTheta, MSTL, SeasonalNaive, HistoricAverage).",
    )
    forecast_cv_windows: int = Field(
        default=3, description="Rolling-origin windows per series (RETAIL_FORECAST_CV_WINDOWS)."
    )
    forecast_selection_margin: float = Field(
        default=0.05,
        description="How much lower (as a share) another candidate's cross-validated MASE must "
        "be to replace the first-listed one (RETAIL_FORECAST_SELECTION_MARGIN).",
    )
    forecast_history_days: int = Field(
        default=730, description="Days of history the model selection reads."
    )
    forecast_n_jobs: int = Field(
        default=1, description="Processes for local forecasting (RETAIL_FORECAST_N_JOBS, -1 all)."
    )
    dask_scheduler: str = Field(
        default="",
        description="Dask scheduler address; when set, forecasting runs on that cluster "
        "(RETAIL_DASK_SCHEDULER).",
    )
    config_dir: str | None = Field(default=None, description="Folder of YAML configuration.")
    sessions_source: str = Field(
        default="simulator",
        description="Web events from 'simulator' or 'ga4' export files (RETAIL_SESSIONS_SOURCE).",
    )
    app_events_source: str = Field(
        default="simulator",
        description="App events from 'simulator' or 'events_file' (RETAIL_APP_EVENTS_SOURCE).",
    )
    duckdb_memory_limit: str = Field(
        default="",
        description="Memory a run's DuckDB may use before spilling to disk, e.g. 8GB "
        "(RETAIL_DUCKDB_MEMORY_LIMIT; default half of the machine's memory).",
    )
    model_training_days: int = Field(
        default=56,
        description="Days of signals and user features the models train on "
        "(RETAIL_MODEL_TRAINING_DAYS).",
    )
    sentiment_labels: str = Field(
        default="",
        description="A labeled CSV or Parquet file to train the sentiment model on instead of "
        "the simulated reviews (RETAIL_SENTIMENT_LABELS).",
    )
    sentiment_text_column: str = Field(
        default="text", description="Text column of that file (RETAIL_SENTIMENT_TEXT_COLUMN)."
    )
    sentiment_label_column: str = Field(
        default="",
        description="Column with negative/neutral/positive labels "
        "(RETAIL_SENTIMENT_LABEL_COLUMN); or give a rating column.",
    )
    sentiment_rating_column: str = Field(
        default="",
        description="Column with 1-5 ratings, mapped 1-2 negative, 3 neutral, 4-5 positive "
        "(RETAIL_SENTIMENT_RATING_COLUMN).",
    )
    sentiment_embeddings: str = Field(
        default="auto",
        description="Sentence embeddings in the sentiment model: 'auto' when the embeddings "
        "extra is installed, 'on' (required), 'off' (RETAIL_SENTIMENT_EMBEDDINGS).",
    )
    segments: int = Field(default=6, description="Customer segments (RETAIL_SEGMENTS).")
    propensity_horizon_days: int = Field(
        default=7,
        description="Orders-only propensity: the label is an order within this many days "
        "after the as-of day (RETAIL_PROPENSITY_HORIZON_DAYS; the behavioural model keeps "
        "the next day).",
    )
    retrain_psi_threshold: float = Field(
        default=0.25,
        description="A feature PSI at or above this requests a retrain (RETAIL_RETRAIN_PSI).",
    )
    retrain_growth_share: float = Field(
        default=0.2,
        description="New training rows, as a share of those the champion saw, that request a "
        "retrain (RETAIL_RETRAIN_GROWTH).",
    )
    retrain_metric_drop: float = Field(
        default=0.05,
        description="A drop of the champion's live metric below its holdout value (in the "
        "metric's units) that requests a retrain (RETAIL_RETRAIN_METRIC_DROP).",
    )
    media_history: str = Field(
        default="",
        description="A CSV of daily spend and conversions per channel (date, channel, spend, "
        "conversions[, revenue]) to fit the response curves on, instead of the simulated "
        "history (RETAIL_MEDIA_HISTORY).",
    )
    dsp_sink: str = Field(
        default="",
        description="Where the plan is delivered: a folder, or an http(s) URL that takes a POST "
        "with an Idempotency-Key header (RETAIL_DSP_SINK; default the outbox folder beside "
        "the lake).",
    )
    dsp_targets: list[str] = Field(
        default=["canonical", "google_ads", "dv360", "meta", "ttd"],
        description="What is delivered: the canonical plan and/or each platform's rendering "
        "(RETAIL_DSP_TARGETS).",
    )
    dsp_timeout: float = Field(
        default=10.0, description="Seconds per delivery attempt (RETAIL_DSP_TIMEOUT)."
    )
    dsp_retries: int = Field(
        default=3, description="Retries after a failed delivery attempt (RETAIL_DSP_RETRIES)."
    )
    raw_retention_days: int = Field(
        default=30,
        description="Days raw landing partitions (with PII) are kept before the "
        "`raw_retention` job deletes them (RETAIL_RAW_RETENTION_DAYS).",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetailPlatform":
        """The resource for ``settings``; the key goes in as an EnvVar so the UI never shows it."""
        return cls(
            lake_root=str(settings.lake_root),
            landing_root=str(settings.landing_root),
            warehouse_path=str(settings.warehouse_path),
            seed=settings.seed,
            customers=settings.customers,
            profile=settings.profile,
            pseudonymization_key=(
                dg.EnvVar("RETAIL_PSEUDONYMIZATION_KEY") if settings.pseudonymization_key else None
            ),
            pseudonymization_key_file=(
                str(settings.pseudonymization_key_file)
                if settings.pseudonymization_key_file
                else None
            ),
            key_id=settings.key_id,
            # Previous keys may be written inline, so they too go in as an EnvVar.
            previous_keys=dg.EnvVar("RETAIL_PREVIOUS_KEYS") if settings.previous_keys else None,
            forecast_horizon=settings.forecast_horizon,
            forecast_levels=list(settings.forecast_levels),
            forecast_candidates=list(settings.forecast_candidates),
            forecast_cv_windows=settings.forecast_cv_windows,
            forecast_selection_margin=settings.forecast_selection_margin,
            forecast_history_days=settings.forecast_history_days,
            forecast_n_jobs=settings.forecast_n_jobs,
            dask_scheduler=settings.dask_scheduler,
            sessions_source=settings.sessions_source,
            app_events_source=settings.app_events_source,
            duckdb_memory_limit=settings.duckdb_memory_limit,
            model_training_days=settings.model_training_days,
            sentiment_labels=settings.sentiment_labels,
            sentiment_text_column=settings.sentiment_text_column,
            sentiment_label_column=settings.sentiment_label_column,
            sentiment_rating_column=settings.sentiment_rating_column,
            sentiment_embeddings=settings.sentiment_embeddings,
            segments=settings.segments,
            propensity_horizon_days=settings.propensity_horizon_days,
            retrain_psi_threshold=settings.retrain_psi_threshold,
            retrain_growth_share=settings.retrain_growth_share,
            retrain_metric_drop=settings.retrain_metric_drop,
            media_history=settings.media_history,
            dsp_sink=settings.dsp_sink,
            dsp_targets=list(settings.dsp_targets),
            dsp_timeout=settings.dsp_timeout,
            dsp_retries=settings.dsp_retries,
            raw_retention_days=settings.raw_retention_days,
        )

    def inbox(self, name: str) -> Path:
        """The landing folder where users drop files of one kind (ga4, events, ...)."""
        return Path(self.landing_root) / "inbox" / name

    def lake(self) -> Lake:
        """The lake and catalog at the configured locations."""
        return Lake(
            self.lake_root,
            self.landing_root,
            self.warehouse_path,
            memory_limit=self.duckdb_memory_limit or None,
        )

    def world(self) -> World:
        """The validated world declaration (``sources.yaml``; simulated when there is none)."""
        return load_world(Path(self.config_dir) if self.config_dir else None)

    def consent_policy(self, source: str) -> ConsentPolicy:
        """The declared consent policy of ``source`` (deny when undeclared or simulated)."""
        declared = getattr(self.world().sources, source, None)
        return getattr(declared, "consent", None) or ConsentPolicy()

    def delivery_sink(self) -> str:
        """The configured sink, or the ``outbox`` folder beside the lake."""
        return self.dsp_sink or str(Path(self.lake_root).parent / "outbox")

    def activation_config(self) -> ActivationConfig:
        """The validated activation configuration."""
        return load_activation_config(Path(self.config_dir) if self.config_dir else None)

    def channels_config(self) -> ChannelsConfig:
        """The validated channel configuration (guardrails, simulated ground truth)."""
        return load_channels_config(Path(self.config_dir) if self.config_dir else None)

    def creatives_config(self) -> CreativesConfig:
        """The validated creative templates, tone lists and banned claims."""
        return load_creatives_config(Path(self.config_dir) if self.config_dir else None)

    def simulator(self) -> Simulator:
        """The simulator for this seed and customer base (built once per process)."""
        return _simulator(self.config_dir, self.seed, self.customers)

    def pseudonymizer(self, log: logging.Logger | None = None) -> Pseudonymizer:
        """The keyed pseudonymizer; warns in the log when the public demo key is in use."""
        # Previous keys are for the rotation job only: a broken one must not stop ingestion.
        return self.key_ring(log, include_previous=False).current

    def key_ring(
        self, log: logging.Logger | None = None, *, include_previous: bool = True
    ) -> KeyRing:
        """The current key and the keys being rotated out, for re-keying stored pseudonyms."""
        try:
            settings = Settings(
                profile=self.profile,
                pseudonymization_key=self.pseudonymization_key,
                pseudonymization_key_file=(
                    Path(self.pseudonymization_key_file) if self.pseudonymization_key_file else None
                ),
                key_id=self.key_id,
                previous_keys=(
                    parse_previous_keys(self.previous_keys or "") if include_previous else ()
                ),
            )
            key, is_demo = settings.resolved_key()
            key_id = self.key_id if not is_demo else "demo"
            ring = KeyRing.of(key_id, key, settings.resolved_previous_keys())
        except (SettingsError, ValueError) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        if is_demo and log is not None:
            log.warning(
                "Pseudonymizing with the public DEMO key (RETAIL_PROFILE=demo and no "
                "RETAIL_PSEUDONYMIZATION_KEY set): fine for simulated data, never for real data."
            )
        return ring


class CreativeWriter(dg.ConfigurableResource):
    """Writes the ad copy variants of the creative library.

    The default writes from the templates in ``config/creatives.yaml``: deterministic and
    offline. To write with an LLM, subclass this resource, return your client (anything with a
    ``name`` and ``generate(request) -> [(headline, body), ...]``) from :meth:`generator`, and
    pass it to ``build_definitions(creative_writer=...)``. Whatever it writes is scored against
    the same banned-claims and brand-tone lists; red variants never reach a payload, and a
    segment x channel left with fewer than two usable variants is topped up from the templates.
    """

    def generator(self, config: CreativesConfig) -> CreativeGenerator:
        """The generator the creative library asks for copy."""
        return TemplateGenerator(config)


#: The resources the definitions are being built with: set by ``build_definitions`` around
#: the defs folder's loader, read by the modules whose definitions depend on the declared
#: world (sources, governance) and by :func:`defs` below.
_BUILDING: ContextVar[tuple[RetailPlatform, CreativeWriter, World] | None] = ContextVar(
    "retail_assets_building", default=None
)


@contextmanager
def building(
    platform: RetailPlatform, creative_writer: CreativeWriter, world: World
) -> Iterator[None]:
    """Build definitions for ``platform`` and its ``world`` inside this block."""
    token = _BUILDING.set((platform, creative_writer, world))
    try:
        yield
    finally:
        _BUILDING.reset(token)


def current() -> tuple[RetailPlatform, CreativeWriter, World]:
    """The platform, creative writer and world being built for (default: from the environment).

    The default serves a loader that reads the defs folder on its own (``dg`` on the folder).
    """
    built = _BUILDING.get()
    if built is None:
        platform = RetailPlatform.from_settings(Settings.from_env())
        return platform, CreativeWriter(), platform.world()
    return built


def current_world() -> World:
    """The world the definitions are being built for: simulated, or the retailer's own."""
    return current()[2]


@dg.definitions
def defs() -> dg.Definitions:
    """The platform and creative writer resources every asset reads."""
    platform, creative_writer, _ = current()
    return dg.Definitions(resources={"platform": platform, "creative_writer": creative_writer})
