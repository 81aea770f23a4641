"""Customer segments for marketers: k-means on behaviour, named by archetype, stable across runs.

How the features are built, the model fitted and the names kept stable from run to run is told
in :mod:`retail_assets.lib.ml.segments.model`. Every public name is re-exported here.
"""

from retail_assets.lib.ml.segments.archetypes import ARCHETYPES, Archetype
from retail_assets.lib.ml.segments.features import (
    DEFAULT_FIT_SAMPLE,
    DEFAULT_K,
    DEFAULT_N_INIT,
    DEFAULT_SEED,
    DEFAULT_SILHOUETTE_SAMPLE,
    NO_PURCHASE_RECENCY,
    PROFILE_COLUMNS,
    REQUIRED_COLUMNS,
    SEGMENT_FEATURES,
    SegmentError,
    behaviour_features,
)
from retail_assets.lib.ml.segments.model import (
    SegmentModel,
    assign,
    fit_segments,
    name_agreement,
    silhouette,
)
from retail_assets.lib.ml.segments.profiles import (
    centroid_frame,
    persona_crosstab,
    profile_figure,
    profiles,
)

__all__ = [
    "ARCHETYPES",
    "Archetype",
    "DEFAULT_FIT_SAMPLE",
    "DEFAULT_K",
    "DEFAULT_N_INIT",
    "DEFAULT_SEED",
    "DEFAULT_SILHOUETTE_SAMPLE",
    "NO_PURCHASE_RECENCY",
    "PROFILE_COLUMNS",
    "REQUIRED_COLUMNS",
    "SEGMENT_FEATURES",
    "SegmentError",
    "SegmentModel",
    "assign",
    "behaviour_features",
    "centroid_frame",
    "fit_segments",
    "name_agreement",
    "persona_crosstab",
    "profile_figure",
    "profiles",
    "silhouette",
]
