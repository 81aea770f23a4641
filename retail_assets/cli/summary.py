"""The summary after ``materialize``: tables and rows, each model's headline, the delivery."""

from __future__ import annotations

from pathlib import Path

from retail_assets.cli.paths import _shown

#: Layers of the catalog, in the order of the summary.
LAYERS = ("raw", "governed", "features", "ml", "activation")


def _summary(instance, settings, keys: list[str], stages, defined=None) -> dict:
    """What the run left: tables and rows, the models, the delivered plan, warnings."""
    from retail_assets.lib.warehouse.lake import Lake

    lake = Lake(settings.lake_root, settings.landing_root, settings.warehouse_path)
    return {
        "tables": _tables(lake),
        "models": _models(instance, lake, defined),
        "delivery": _delivery(instance, lake, keys[-1]),
        "warnings": [w for s in stages for w in s.warnings],
        "stages": stages,
        "days": keys,
    }


def _tables(lake) -> list[tuple[str, str, int | None, int | None]]:
    """``(schema, table, rows, days)`` of every view in the catalog, layer by layer.

    ``rows`` is None when the catalog cannot be read; ``days`` is None for a whole table.
    """
    import duckdb

    try:
        with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
            views = con.execute(
                "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
            counts = {
                (s, t): con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
                for s, t in views
            }
    except duckdb.Error:  # busy (another writer) or missing: say so, without counts
        counts = {}
    order = {name: i for i, name in enumerate(LAYERS)}
    out = []
    for schema, table in sorted(counts, key=lambda v: (order.get(v[0], 99), v[1])):
        files = lake.partition_files(schema, table)
        days = sum(1 for f in files if f.parent.name.startswith("date="))
        out.append((schema, table, counts.get((schema, table)), days or None))
    return out


def _metadata(instance, key: str) -> dict:
    """The latest materialization's metadata of asset ``key`` as plain values ({} if none)."""
    import dagster as dg

    event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def _models(instance, lake, defined: set[str] | None = None) -> list[dict]:
    """Each model: its champion, what it was trained on and its headline metric, or why not.

    From the latest materialization's metadata in the instance: ``trained``,
    ``training_rows/first/last`` and ``headline`` where the asset reports them, else its
    own metric keys and the champion's ``trained_on`` in the model registry. ``champion`` is
    True when the model has a real champion (not an empty table or a placeholder).
    """
    from retail_assets.lib.ml.registry import ModelRegistry

    registry = ModelRegistry(lake.lake_root)
    models = (
        [_forecast_selection(instance, lake)]
        if defined is None or "ml/forecast_models" in defined
        else []
    )
    specs = [
        ("review sentiment", "ml/review_sentiment", "review_sentiment", "texts"),
        ("sales direction", "ml/sales_direction_model", "sales_direction", "weekly rows"),
        ("purchase propensity", "ml/purchase_propensity", "purchase_propensity", "rows"),
        ("customer segments", "ml/customer_segments", "customer_segments", "customers"),
    ]
    for label, key, name, unit in specs:
        if defined is not None and key not in defined:
            continue  # not in this world: nothing declared feeds it
        meta = _metadata(instance, key)
        try:
            champ = registry.champion(name)
        except (OSError, ValueError):
            champ = None
        row = {"model": label, "version": f"v{champ.version}" if champ else "", "trained_on": ""}
        if not meta:
            row |= {"headline": "not materialized", "champion": False}
            models.append(row)
            continue
        if meta.get("trained") is False or meta.get("not_trained"):
            why = meta.get("not_trained") or "too little data"
            row |= {"headline": f"not trained: {why}", "champion": False}
            models.append(row)
            continue
        trained = (champ.metadata.get("trained_on") or {}) if champ else {}
        rows = meta.get("training_rows", trained.get("rows"))
        first = meta.get("training_first", trained.get("first"))
        last = meta.get("training_last", trained.get("last"))
        span = f"{first}..{last}" if first and last and first != last else (last or first or "")
        if rows is not None:
            row["trained_on"] = f"{int(rows):,} {unit}" + (f", {span}" if span else "")
        row["headline"] = _headline(name, meta) or str(meta.get("headline") or "trained")
        row["champion"] = champ is not None
        models.append(row)
    return models


def _headline(name: str, meta: dict) -> str | None:
    """A model's main figures in about 50 characters, from its own metadata keys.

    None when the keys are missing: the caller then uses the asset's own ``headline``.
    """

    def f(key: str, digits: int = 3) -> str | None:
        value = meta.get(key)
        return f"{value:.{digits}f}" if isinstance(value, int | float) else None

    if name == "review_sentiment" and f("macro_f1"):
        lexicon = "the lexicon: " if meta.get("model_kind") == "lexicon" else ""
        return f"{lexicon}macro-F1 {f('macro_f1')}, accuracy {f('accuracy')}"
    if name == "sales_direction" and f("cv_roc_auc"):
        base = f("cv_best_baseline_roc_auc")
        return (
            f"ROC-AUC {f('cv_roc_auc')} CV"
            + (f" vs {base} baseline" if base else "")
            + f", {f('holdout_roc_auc')} holdout"
        )
    if name == "purchase_propensity" and f("pr_auc"):
        lift = f("pr_auc_over_base_rate", 1)
        return (
            f"PR-AUC {f('pr_auc', 4)}"
            + (f" = {lift}x base rate" if lift else f" (base rate {f('base_rate', 4)})")
            + f", top-decile lift {f('top_decile_lift', 1)}"
        )
    if name == "customer_segments" and isinstance(meta.get("segments"), dict):
        names = meta["segments"]
        total = sum(names.values()) or 1
        top = sorted(names.items(), key=lambda i: -i[1])[:3]
        return f"{len(names)} segments: " + ", ".join(f"{n} {c / total:.0%}" for n, c in top)
    return None


def _forecast_selection(instance, lake) -> dict:
    """The series whose model won the cross-validation, their MASE and the winners' mix."""
    import polars as pl

    meta = _metadata(instance, "ml/forecast_models")
    row = {"model": "forecast selection", "version": "", "trained_on": "", "champion": False}
    try:
        choices = lake.read("ml", "forecast_models")
    except Exception:  # noqa: BLE001 - the summary never fails the command
        choices = pl.DataFrame()
    if not meta or choices.is_empty() or "cv_mase" not in choices.columns:
        row["headline"] = "not materialized"
        return row
    cv = choices.filter(pl.col("cv_mase").is_not_null())
    champions = int(meta.get("series_cv_champion", cv.height))
    series = int(meta.get("series", choices.height))
    days = meta.get("history_days")
    as_of = meta.get("as_of", "")
    row["trained_on"] = f"{series:,} series, " + (f"{days} days to {as_of}" if days else as_of)
    row["champion"] = champions > 0
    if not champions:
        row["headline"] = "no series long enough for cross-validation (rules only)"
        return row
    mix = cv.group_by("model").len().sort("len", descending=True).head(3)
    top = ", ".join(f"{m} {n / max(cv.height, 1):.0%}" for m, n in mix.iter_rows())
    row["headline"] = (
        f"{champions:,} of {series:,} by CV, median MASE {cv['cv_mase'].median():.3f}; {top}"
    )
    return row


def _delivery(instance, lake, day: str) -> dict:
    """Where the last day's plan went: the sink, each target's status, the payload file."""
    meta = _metadata(instance, "activation/dsp_delivery")
    try:
        receipts = lake.read("activation", "dsp_delivery", [day])
    except Exception:  # noqa: BLE001 - a summary never fails the command
        receipts = None
    payload = lake.partition_path("activation", "dsp_payload", day, filename="payload.json")
    sink = str(meta.get("sink", ""))
    return {
        "sink": sink if "://" in sink or not sink else _shown(Path(sink)),
        "receipts": []
        if receipts is None or receipts.is_empty()
        else list(receipts.select("target", "status").iter_rows()),
        "payload": _shown(payload) if payload.exists() else "",
    }
