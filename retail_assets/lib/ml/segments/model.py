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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from retail_assets.lib.ml.segments.archetypes import ARCHETYPES, Archetype, _archetype_names
from retail_assets.lib.ml.segments.features import (
    DEFAULT_FIT_SAMPLE,
    DEFAULT_K,
    DEFAULT_N_INIT,
    DEFAULT_SEED,
    DEFAULT_SILHOUETTE_SAMPLE,
    SEGMENT_FEATURES,
    SegmentError,
    _check_one_day,
    _matrix,
    behaviour_features,
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
