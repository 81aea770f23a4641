"""Customer segments for marketers: k-means on behaviour, named by archetype, stable across runs.

One day of ``features.user_features`` (every customer active in the 30 days up to that day)
becomes a handful of behaviour features (:data:`SEGMENT_FEATURES`): how recently they bought
and were active, how many days they were active, orders and revenue over 90 days, the average
order value, views and cart additions over 30 days, and the share of views that ended in a
purchase. Counts and money are ``log1p``-compressed so a few heavy buyers do not own the scale;
non-buyers have no order value, which the imputer fills with the buyers' median, so that axis
separates cheap baskets from dear ones rather than buyers from non-buyers. The persona the
simulator assigns is its hidden truth and is never an input; :func:`profiles` and
:func:`persona_crosstab` only report how segments line up with it.

A scikit-learn pipeline (median imputer, ``StandardScaler``, ``KMeans`` with a fixed seed and
``n_init`` restarts) is fitted on the rows sorted by ``customer_key``, so the input's row order
cannot change the result. Cluster numbers mean nothing from one fit to the next; names do, and
they are kept stable in two steps:

1. **Previous run first.** When the previous :class:`SegmentModel` is given, the new centroids
   are put in the previous model's standardized space and matched one to one to the previous
   centroids by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment`` on Euclidean
   distances). A matched cluster keeps its predecessor's name, so "Brand Loyalist" next week is
   the cluster closest to this week's Brand Loyalists, not whatever the archetypes would say.
   (``max_shift`` optionally refuses a match that moved too far; the distance of every match
   is kept in :attr:`SegmentModel.matched_shift`.)
2. **Archetypes for the rest.** Clusters without a predecessor (the first run, or a larger
   ``k``) get names from :data:`ARCHETYPES`, each a direction in the standardized feature space
   (Brand Loyalist: many orders, much revenue, a recent purchase). The cost of giving an
   archetype to a cluster is minus the centroid's projection on the archetype's unit direction,
   and the Hungarian algorithm picks the assignment with the largest total projection, each
   name used at most once. "Everyday Shopper" has no direction (cost 0 everywhere): it goes to
   the cluster that fits no other archetype.

The archetypes reflect what the simulator's personas make visible in the data: premium
shoppers buy often and dearly, budget shoppers browse and buy cheap baskets, young
professionals view a lot and buy less, seniors visit rarely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

DEFAULT_K = 6
DEFAULT_SEED = 42
DEFAULT_N_INIT = 10
#: Rows the k-means fit sees at most (a seeded sample of the sorted rows); every row is assigned.
DEFAULT_FIT_SAMPLE = 200_000
#: Customers the silhouette is computed on at most (a seeded sample): its cost is quadratic.
DEFAULT_SILHOUETTE_SAMPLE = 5_000
#: ``recency_days`` of a customer with no purchase in the 90-day window (the window's end + 1).
NO_PURCHASE_RECENCY = 90

#: Columns of ``features.user_features`` the segment features are derived from.
REQUIRED_COLUMNS = (
    "customer_key",
    "days_since_last_activity",
    "active_days_30d",
    "views_30d",
    "carts_30d",
    "purchases_30d",
    "recency_days",
    "frequency_90d",
    "monetary_90d",
)

#: The clustering inputs, in order (derived by :func:`behaviour_features`).
SEGMENT_FEATURES = (
    "purchase_recency_days",
    "days_since_last_activity",
    "active_days_30d",
    "log_orders_90d",
    "log_revenue_90d",
    "log_order_value",
    "log_views_30d",
    "log_carts_30d",
    "log_views_per_purchase",
)

#: Readable columns whose per-segment means :func:`profiles` reports.
PROFILE_COLUMNS = (
    "recency_days",
    "days_since_last_activity",
    "active_days_30d",
    "frequency_90d",
    "monetary_90d",
    "order_value",
    "views_30d",
    "carts_30d",
    "purchases_30d",
    "views_per_purchase",
)


class SegmentError(ValueError):
    """The input cannot be segmented as given; the message says what to fix."""


@dataclass(frozen=True)
class Archetype:
    """A named segment profile: a direction in the standardized feature space.

    ``direction`` maps features of :data:`SEGMENT_FEATURES` to weights (others are 0); an empty
    direction is the "no strong trait" archetype.
    """

    name: str
    description: str
    direction: Mapping[str, float] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """Stable identifier, e.g. ``brand_loyalist``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")

    def unit_vector(self, features: Sequence[str]) -> np.ndarray:
        """The direction over ``features``, scaled to length 1 (all zeros when empty)."""
        unknown = set(self.direction) - set(features)
        if unknown:
            raise SegmentError(
                f"archetype {self.name!r} uses unknown feature(s) {sorted(unknown)}; "
                f"choose from {list(features)}"
            )
        vec = np.array([self.direction.get(f, 0.0) for f in features], dtype=float)
        norm = np.linalg.norm(vec)
        return vec / norm if norm > 0 else vec


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "Brand Loyalist",
        "Buys often and spends the most, bought recently and is active on many days.",
        {
            "log_orders_90d": 1.0,
            "log_revenue_90d": 1.0,
            "purchase_recency_days": -0.7,
            "active_days_30d": 0.5,
        },
    ),
    Archetype(
        "Big-Ticket Buyer",
        "Few orders but dear ones: the highest order value.",
        {"log_order_value": 1.5, "log_revenue_90d": 0.5, "log_orders_90d": -0.2},
    ),
    Archetype(
        "Value Shopper",
        "Buys, but small baskets after much browsing: price-sensitive.",
        {
            "log_order_value": -1.2,
            "log_orders_90d": 0.5,
            "log_views_30d": 0.5,
            "log_views_per_purchase": 0.3,
        },
    ),
    Archetype(
        "Speed Seeker",
        "Converts quickly: few views per purchase.",
        {"log_views_per_purchase": -1.5, "log_views_30d": -0.3, "log_orders_90d": 0.4},
    ),
    Archetype(
        "Window Shopper",
        "Views and fills carts a lot but rarely buys.",
        {
            "log_views_30d": 1.0,
            "log_carts_30d": 1.0,
            "log_orders_90d": -1.0,
        },
    ),
    Archetype(
        "Lapsing",
        "Has gone quiet: no activity for weeks and no recent purchase. Worth a win-back.",
        {
            "days_since_last_activity": 1.2,
            "active_days_30d": -0.6,
            "purchase_recency_days": 0.4,
        },
    ),
    Archetype(
        "Occasional Visitor",
        "Visits now and then, views little and rarely buys.",
        {
            "active_days_30d": -1.0,
            "log_views_30d": -1.0,
            "log_carts_30d": -0.5,
            "days_since_last_activity": -0.3,
        },
    ),
    Archetype(
        "Everyday Shopper",
        "Close to the average customer on every trait.",
        {},
    ),
)


@dataclass
class SegmentModel:
    """A fitted segmentation: the pipeline, the name of each cluster and how it was fitted.

    Picklable (store it with the model registry). ``names[i]`` and ``slugs[i]`` name k-means
    cluster ``i``; ``matched_shift[i]`` is the distance (standardized units, in the previous
    model's space) from cluster ``i`` to the previous cluster whose name it took, or NaN when it
    was named by archetype.
    """

    pipeline: Pipeline
    names: tuple[str, ...]
    slugs: tuple[str, ...]
    features: tuple[str, ...]
    descriptions: tuple[str, ...]
    matched_shift: tuple[float, ...]
    fitted_rows: int
    seed: int

    @property
    def scaler(self) -> StandardScaler:
        """The fitted scaler."""
        return self.pipeline.named_steps["scale"]

    @property
    def kmeans(self) -> KMeans:
        """The fitted k-means."""
        return self.pipeline.named_steps["kmeans"]

    @property
    def k(self) -> int:
        """Number of segments."""
        return len(self.names)

    def centroids_scaled(self) -> np.ndarray:
        """Centroids in the standardized feature space, one row per cluster."""
        return self.kmeans.cluster_centers_

    def centroids_raw(self) -> np.ndarray:
        """Centroids in the derived features' own units, one row per cluster."""
        return self.scaler.inverse_transform(self.kmeans.cluster_centers_)


def behaviour_features(user_features: pl.DataFrame) -> pl.DataFrame:
    """``customer_key`` and the :data:`SEGMENT_FEATURES` derived from user-feature rows.

    ``log_order_value`` is null for customers without orders (the model's imputer fills it);
    other columns are never null.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in user_features.columns]
    if missing:
        raise SegmentError(
            f"user features lack column(s) {missing}; pass rows of features.user_features"
        )
    orders = pl.col("frequency_90d").fill_null(0).cast(pl.Float64)
    revenue = pl.col("monetary_90d").fill_null(0.0).cast(pl.Float64)
    views = pl.col("views_30d").fill_null(0).cast(pl.Float64)
    purchases = pl.col("purchases_30d").fill_null(0).cast(pl.Float64)
    return user_features.select(
        "customer_key",
        pl.col("recency_days")
        .fill_null(NO_PURCHASE_RECENCY)
        .cast(pl.Float64)
        .alias("purchase_recency_days"),
        pl.col("days_since_last_activity").fill_null(29).cast(pl.Float64),
        pl.col("active_days_30d").fill_null(0).cast(pl.Float64),
        orders.log1p().alias("log_orders_90d"),
        revenue.log1p().alias("log_revenue_90d"),
        pl.when(orders > 0).then((revenue / orders).log1p()).alias("log_order_value"),
        views.log1p().alias("log_views_30d"),
        pl.col("carts_30d").fill_null(0).cast(pl.Float64).log1p().alias("log_carts_30d"),
        pl.when(purchases > 0).then((views / purchases).log1p()).alias("log_views_per_purchase"),
    )


def _matrix(derived: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    return derived.select(features).to_numpy().astype(float)


def _check_one_day(user_features: pl.DataFrame) -> None:
    if "as_of_date" in user_features.columns:
        days = user_features["as_of_date"].n_unique()
        if days > 1:
            raise SegmentError(
                f"user features span {days} as_of_date values; segment one day at a time "
                "(filter to a single as_of_date)"
            )


def _archetype_names(
    centroids: np.ndarray, features: Sequence[str], pool: Sequence[Archetype]
) -> list[Archetype]:
    """One distinct archetype per centroid, maximizing the total projection (Hungarian)."""
    directions = np.stack([a.unit_vector(features) for a in pool])
    cost = -centroids @ directions.T
    _, cols = linear_sum_assignment(cost)  # rows come back as 0..n-1 (n <= len(pool))
    return [pool[c] for c in cols]


def fit_segments(
    user_features: pl.DataFrame,
    k: int = DEFAULT_K,
    seed: int = DEFAULT_SEED,
    previous: SegmentModel | None = None,
    max_shift: float | None = None,
    n_init: int = DEFAULT_N_INIT,
    fit_sample: int | None = DEFAULT_FIT_SAMPLE,
    archetypes: Sequence[Archetype] = ARCHETYPES,
) -> SegmentModel:
    """Fit k-means segments on one day of user features and name them stably.

    ``previous`` is the last run's model: its names are carried over to the nearest new
    clusters first (see the module docstring). With ``max_shift``, a cluster further than that
    (in the previous model's standard deviations) from its predecessor is named afresh by
    archetype instead: it has become something else. Rows are sorted by ``customer_key`` before the
    fit, and at most ``fit_sample`` of them (a seeded sample) are clustered, so the result does
    not depend on row order.
    """
    if k < 2:
        raise SegmentError(f"k={k}: segment into at least 2 clusters")
    if k > len(archetypes):
        raise SegmentError(
            f"k={k} is more than the {len(archetypes)} named archetypes; lower k or add archetypes"
        )
    _check_one_day(user_features)
    derived = behaviour_features(user_features).sort("customer_key")
    if derived["customer_key"].is_duplicated().any():
        raise SegmentError("customer_key is not unique; pass one row per customer")
    features = list(SEGMENT_FEATURES)
    if fit_sample is not None and derived.height > fit_sample:
        derived = derived.sample(n=fit_sample, seed=seed).sort("customer_key")
    x = _matrix(derived, features)
    distinct = np.unique(np.nan_to_num(x, nan=-1.0), axis=0).shape[0]
    if distinct < k:
        raise SegmentError(
            f"only {distinct} distinct customer profiles for k={k} segments; lower k or pass "
            "more customers"
        )
    pipeline = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("kmeans", KMeans(n_clusters=k, n_init=n_init, random_state=seed)),
        ]
    )
    pipeline.fit(x)
    centers = pipeline.named_steps["kmeans"].cluster_centers_

    names: list[str | None] = [None] * k
    slugs: list[str | None] = [None] * k
    descriptions: list[str | None] = [None] * k
    shift = [float("nan")] * k
    if previous is not None:
        if tuple(previous.features) != tuple(features):
            raise SegmentError(
                f"the previous model was fitted on {list(previous.features)}, not {features}; "
                "refit without previous"
            )
        raw = pipeline.named_steps["scale"].inverse_transform(centers)
        in_previous_space = previous.scaler.transform(raw)
        distance = np.linalg.norm(
            in_previous_space[:, None, :] - previous.centroids_scaled()[None, :, :], axis=2
        )
        rows, cols = linear_sum_assignment(distance)
        for r, c in zip(rows, cols, strict=True):
            if max_shift is not None and distance[r, c] > max_shift:
                continue
            names[r], slugs[r] = previous.names[c], previous.slugs[c]
            descriptions[r] = previous.descriptions[c]
            shift[r] = float(distance[r, c])
    free = [i for i in range(k) if names[i] is None]
    if free:
        pool = [a for a in archetypes if a.name not in names]
        for i, archetype in zip(free, _archetype_names(centers[free], features, pool), strict=True):
            names[i], slugs[i], descriptions[i] = (
                archetype.name,
                archetype.slug,
                archetype.description,
            )
    return SegmentModel(
        pipeline=pipeline,
        names=tuple(str(n) for n in names),
        slugs=tuple(str(s) for s in slugs),
        features=tuple(features),
        descriptions=tuple(str(d) for d in descriptions),
        matched_shift=tuple(shift),
        fitted_rows=derived.height,
        seed=seed,
    )


def assign(model: SegmentModel, user_features: pl.DataFrame) -> pl.DataFrame:
    """Each customer's segment: ``[as_of_date,] customer_key, segment_id, segment_name``.

    ``segment_id`` is the stable slug (``brand_loyalist``). ``as_of_date`` is kept when the
    input has it, so several days can be assigned at once.
    """
    derived = behaviour_features(user_features)
    if derived.height == 0:
        labels = np.array([], dtype=int)
    else:
        labels = model.pipeline.predict(_matrix(derived, model.features))
    slugs = np.array(model.slugs, dtype=object)[labels]
    names = np.array(model.names, dtype=object)[labels]
    keep = ["as_of_date"] if "as_of_date" in user_features.columns else []
    return user_features.select(*keep, "customer_key").with_columns(
        pl.Series("segment_id", slugs.tolist(), dtype=pl.Utf8),
        pl.Series("segment_name", names.tolist(), dtype=pl.Utf8),
    )


def silhouette(
    model: SegmentModel,
    user_features: pl.DataFrame,
    sample: int | None = DEFAULT_SILHOUETTE_SAMPLE,
    seed: int = DEFAULT_SEED,
) -> float | None:
    """Mean silhouette of the customers in ``model``'s segments, in its standardized space.

    From -1 to 1: how much closer each customer is to its own segment than to the nearest
    other one (0.25-0.5 is the usual range for behavioural segments, which overlap). Computed
    on at most ``sample`` customers (seeded, rows sorted by ``customer_key`` first, so row order
    does not matter); ``None`` when fewer than two segments have customers.
    """
    derived = behaviour_features(user_features).sort("customer_key")
    if sample is not None and derived.height > sample:
        derived = derived.sample(n=sample, seed=seed).sort("customer_key")
    if derived.height < 3:
        return None
    x = model.pipeline[:-1].transform(_matrix(derived, model.features))
    labels = model.kmeans.predict(x)
    if not 2 <= np.unique(labels).size < derived.height:
        return None
    return float(silhouette_score(x, labels))


def name_agreement(
    previous: SegmentModel, model: SegmentModel, user_features: pl.DataFrame
) -> float | None:
    """Share of customers whose segment name is the same under ``previous`` and ``model``.

    How stable the names are from one run to the next, on the same customers (``None`` for
    no rows).
    """
    if user_features.height == 0:
        return None
    before = assign(previous, user_features)["segment_name"]
    after = assign(model, user_features)["segment_name"]
    return float((before == after).mean())


def _with_segments(model: SegmentModel, user_features: pl.DataFrame) -> pl.DataFrame:
    views = pl.col("views_30d").cast(pl.Float64)
    purchases = pl.col("purchases_30d").cast(pl.Float64)
    frame = user_features.with_columns(
        pl.when(pl.col("frequency_90d") > 0)
        .then(pl.col("monetary_90d") / pl.col("frequency_90d"))
        .alias("order_value"),
        pl.when(purchases > 0).then(views / purchases).alias("views_per_purchase"),
    )
    labels = assign(model, user_features).select("segment_id", "segment_name")
    return pl.concat([frame, labels], how="horizontal")


def _segment_order(model: SegmentModel) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "segment_id": list(model.slugs),
            "segment_name": list(model.names),
            "description": list(model.descriptions),
        }
    )


def profiles(
    model: SegmentModel,
    user_features: pl.DataFrame,
    customers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per segment: size, share, mean of each :data:`PROFILE_COLUMNS`, buyer share.

    ``order_value`` is averaged over buyers only (it does not exist for the others). With
    ``customers`` (``customer_key, persona``: ``governed.customers``) two more columns say which
    persona is most common in the segment and its share there, a check on what the segment
    found, never an input to it. Segments without customers are listed with zero customers.
    """
    frame = _with_segments(model, user_features)
    aggs = [
        pl.len().alias("customers"),
        *[pl.col(c).cast(pl.Float64).mean().alias(f"mean_{c}") for c in PROFILE_COLUMNS],
        (pl.col("frequency_90d") > 0).mean().alias("buyer_share"),
    ]
    stats = frame.group_by("segment_id").agg(aggs)
    out = (
        _segment_order(model)
        .join(stats, on="segment_id", how="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64))
        .with_columns(
            (pl.col("customers") / max(frame.height, 1)).alias("share"),
        )
    )
    if customers is not None:
        top = (
            persona_crosstab(model, user_features, customers)
            .sort(["segment_id", "share", "persona"], descending=[False, True, False])
            .group_by("segment_id", maintain_order=True)
            .first()
            .select(
                "segment_id",
                pl.col("persona").alias("top_persona"),
                pl.col("share").alias("top_persona_share"),
            )
        )
        out = out.join(top, on="segment_id", how="left")
    ordered = ["segment_id", "segment_name", "description", "customers", "share"]
    return out.select(*ordered, pl.exclude(ordered)).sort("customers", descending=True)


def persona_crosstab(
    model: SegmentModel, user_features: pl.DataFrame, customers: pl.DataFrame
) -> pl.DataFrame:
    """Segments against personas, long: ``segment_id, segment_name, persona, customers, share``.

    ``share`` is within the segment. Customers without a persona count as ``unknown``.
    """
    if not {"customer_key", "persona"} <= set(customers.columns):
        raise SegmentError("customers must have customer_key and persona (governed.customers)")
    labels = assign(model, user_features).join(
        customers.select("customer_key", "persona").unique("customer_key"),
        on="customer_key",
        how="left",
    )
    return (
        labels.with_columns(pl.col("persona").fill_null("unknown"))
        .group_by("segment_id", "segment_name", "persona")
        .agg(pl.len().alias("customers"))
        .with_columns(
            (pl.col("customers") / pl.col("customers").sum().over("segment_id")).alias("share")
        )
        .sort("segment_id", "persona")
    )


def centroid_frame(model: SegmentModel) -> pl.DataFrame:
    """Centroids, long: ``segment_id, segment_name, feature, value, standardized``."""
    raw, scaled = model.centroids_raw(), model.centroids_scaled()
    rows = [
        (model.slugs[i], model.names[i], f, float(raw[i, j]), float(scaled[i, j]))
        for i in range(model.k)
        for j, f in enumerate(model.features)
    ]
    return pl.DataFrame(
        rows,
        schema=["segment_id", "segment_name", "feature", "value", "standardized"],
        orient="row",
    )


def profile_figure(model: SegmentModel, title: str = "Segment profiles (standardized)") -> Figure:
    """Heat map of the standardized centroids: one row per segment, one column per feature.

    A plain matplotlib ``Figure`` (no pyplot state): pass it to ``plots.png_markdown``.
    """
    scaled = model.centroids_scaled()
    limit = max(float(np.abs(scaled).max()), 1e-9)
    fig = Figure(figsize=(1.0 + 0.9 * len(model.features), 0.9 + 0.5 * model.k))
    ax = fig.subplots()
    image = ax.imshow(scaled, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(model.features)), labels=list(model.features), rotation=40, ha="right")
    ax.set_yticks(range(model.k), labels=list(model.names))
    for i in range(model.k):
        for j in range(len(model.features)):
            ax.text(j, i, f"{scaled[i, j]:+.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="standard deviations from the mean")
    ax.set_title(title)
    fig.tight_layout()
    return fig
