"""The creative library: ad copy variants per segment and channel, scored for compliance.

A :class:`CreativeGenerator` turns a :class:`CreativeRequest` into (headline, body) pairs. The
default :class:`TemplateGenerator` fills the templates of ``config/creatives.yaml``: it is
deterministic and offline. An LLM client can implement the same protocol; whatever it returns
goes through the same checks.

:func:`score_creative` gives each pair a traffic light from the configured lists and the
channel's limits: **red** for a banned claim, raw personal data (an email address, a phone
number, a link off the landing domain), an unfilled placeholder or copy over the limit;
**amber** for off-tone words, shouting, no brand-tone word or copy near the limit; **green**
otherwise. :func:`build_library` keeps red variants so marketers can see what was rejected and
why, tops every (segment, channel) up to its requested number of non-red variants from the
templates, and :func:`payload_ready` is the only way out to a payload: it re-scores every
creative and drops anything red.

The package is split by concern: :mod:`.model` (requests, creatives, verdicts, the generator
protocol), :mod:`.text` (normalizing and cutting copy), :mod:`.compliance` (the traffic light),
:mod:`.generation` (the template generator) and :mod:`.library` (building the library and the
payload gate). The names below are re-exported for callers; the submodules import each other by
full module path, never from here.
"""

from retail_assets.lib.activation.creatives.compliance import score_creative
from retail_assets.lib.activation.creatives.generation import TemplateGenerator
from retail_assets.lib.activation.creatives.library import (
    build_library,
    landing_url,
    payload_ready,
    requests_for,
    variant_letter,
)
from retail_assets.lib.activation.creatives.model import (
    LIGHTS,
    TEMPLATE_SOURCE,
    Creative,
    CreativeError,
    CreativeGenerator,
    CreativeRequest,
    Light,
    Verdict,
    slug,
)
from retail_assets.lib.activation.creatives.text import normalize, truncate_words

__all__ = [
    "LIGHTS",
    "TEMPLATE_SOURCE",
    "Creative",
    "CreativeError",
    "CreativeGenerator",
    "CreativeRequest",
    "Light",
    "TemplateGenerator",
    "Verdict",
    "build_library",
    "landing_url",
    "normalize",
    "payload_ready",
    "requests_for",
    "score_creative",
    "slug",
    "truncate_words",
    "variant_letter",
]
