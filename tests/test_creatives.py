"""The creative library: templates, compliance scoring, top-up and the payload gate."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from retail_assets.lib.activation.creatives.compliance import score_creative
from retail_assets.lib.activation.creatives.generation import TemplateGenerator
from retail_assets.lib.activation.creatives.library import (
    build_library,
    payload_ready,
    requests_for,
    variant_letter,
)
from retail_assets.lib.activation.creatives.model import (
    Creative,
    CreativeError,
    CreativeGenerator,
    CreativeRequest,
)
from retail_assets.lib.activation.creatives.text import truncate_words
from retail_assets.lib.config import (
    DEFAULT_CONFIG_DIR,
    ConfigError,
    CreativesConfig,
    load_creatives_config,
    load_simulation_config,
)

CHANNELS = ("Display", "CTV", "PPC", "Email")


@pytest.fixture(scope="module")
def config() -> CreativesConfig:
    return load_creatives_config()


def configured_segments(config: CreativesConfig) -> dict[str, str]:
    return {k: k.replace("_", " ").title() for k in config.templates if k != "default"}


def by_pair(creatives: list[Creative]) -> dict[tuple[str, str], list[Creative]]:
    out: dict[tuple[str, str], list[Creative]] = {}
    for c in creatives:
        out.setdefault((c.segment_id, c.channel), []).append(c)
    return out


# ------------------------------------------------------------------ configuration


def test_packaged_config_loads(config):
    assert set(config.channels) == set(CHANNELS)
    assert "default" in config.templates
    for name, t in config.templates.items():
        assert len(t.headlines) >= 3 and len(t.bodies) >= 3, name
    assert config.landing_url == "https://www.example-retailer.com"
    assert {"guaranteed", "risk-free", "#1"} <= {c.claim for c in config.banned_claims}


def _write(folder: Path, raw: dict) -> Path:
    (folder / "creatives.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return folder


def _packaged_raw() -> dict:
    return yaml.safe_load((DEFAULT_CONFIG_DIR / "creatives.yaml").read_text(encoding="utf-8"))


def _drop_brand(raw):
    del raw["brand"]


def _wrong_type(raw):
    raw["channels"]["PPC"]["headline_max"] = "thirty"


def _bad_placeholder(raw):
    raw["templates"]["default"]["headlines"][0] = "Hello {first_name}"


def _no_default(raw):
    del raw["templates"]["default"]


def _bad_regex(raw):
    raw["banned_claims"][0] = {"claim": "broken", "pattern": "guarantee(d"}


def _empty_regex(raw):
    raw["banned_claims"][0] = {"claim": "everything", "pattern": "x?"}


def _wrong_utm(raw):
    raw["channels"]["PPC"]["utm_medium"] = "display"


def _http_landing(raw):
    raw["landing_url"] = "http://www.example-retailer.com"


@pytest.mark.parametrize(
    ("break_it", "names"),
    [
        (_drop_brand, r"brand: Field required"),
        (_wrong_type, r"channels\.PPC\.headline_max"),
        (_bad_placeholder, r"templates\.default\.headlines.*first_name"),
        (_no_default, r"'default' entry"),
        (_bad_regex, r"banned_claims\.0\.pattern.*not a valid regular expression"),
        (_empty_regex, r"banned_claims\.0\.pattern.*empty string"),
        (_wrong_utm, r"channel 'PPC'.*'Display' under GA4"),
        (_http_landing, r"landing_url"),
    ],
)
def test_malformed_yaml_names_file_and_key(tmp_path, break_it, names):
    raw = _packaged_raw()
    break_it(raw)
    with pytest.raises(ConfigError) as err:
        load_creatives_config(_write(tmp_path, raw))
    message = str(err.value)
    assert str(tmp_path / "creatives.yaml") in message
    assert re.search(names, message), message


def test_not_yaml_and_missing_file(tmp_path):
    (tmp_path / "creatives.yaml").write_text("brand: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="creatives.yaml is not valid YAML"):
        load_creatives_config(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_creatives_config(tmp_path / "nowhere")


def test_short_form_claims_are_phrases(tmp_path):
    raw = _packaged_raw()
    raw["banned_claims"] = ["price match promise"]
    cfg = load_creatives_config(_write(tmp_path, raw))
    assert cfg.banned_claims[0].claim == "price match promise"
    assert cfg.banned_claims[0].pattern is None
    verdict = score_creative("Discover picks", "Our Price-Match promise", "Email", cfg)
    assert verdict.compliance == "red"


# ------------------------------------------------------------------ the default library


@pytest.mark.parametrize("category", [None, "Home & Garden", "Electronics"])
def test_every_segment_and_channel_gets_two_distinct_non_red_variants(config, category):
    segments = configured_segments(config)
    context = {s: {"category": category} for s in segments} if category else None
    library = build_library(requests_for(segments, CHANNELS, context=context), config=config)
    pairs = by_pair(library)
    assert set(pairs) == {(s, ch) for s in segments for ch in CHANNELS}
    for (segment, channel), creatives in pairs.items():
        usable = [c for c in creatives if c.compliance != "red"]
        assert len(usable) >= 2, (segment, channel, [c.reasons for c in creatives])
        assert len({(c.headline, c.body) for c in usable}) == len(usable)
        assert len({c.headline for c in usable}) == len(usable), "headlines should differ"
        limits = config.channels[channel]
        for c in creatives:
            assert len(c.headline) <= limits.headline_max, c
            assert len(c.body) <= limits.body_max, c
            assert c.source == "template"
            assert "{" not in c.headline + c.body
        ids = [c.variant_id for c in creatives]
        expected = [f"{channel.lower()}-{segment.replace('_', '-')}-{x}" for x in "abc"]
        assert ids == expected[: len(ids)]


def test_packaged_copy_is_green_for_the_simulated_categories(config):
    # Amber here means a template needs rewording, not a compliance problem.
    segments = configured_segments(config)
    for category in [None, *load_simulation_config().categories]:
        context = {s: {"category": category} for s in segments} if category else None
        library = build_library(requests_for(segments, CHANNELS, context=context), config=config)
        not_green = [(c.variant_id, c.reasons) for c in library if c.compliance != "green"]
        assert not not_green, (category, not_green)


def test_unknown_segment_falls_back_to_default_templates_with_its_name(config):
    request = CreativeRequest("deal_hunter", "Deal Hunter", "PPC")
    generator = TemplateGenerator(config)
    assert generator.template_set(request) == "default"
    assert generator.template_set(CreativeRequest("value_shopper", "V", "PPC")) == "value_shopper"
    library = build_library([request], config=config)
    assert [c.variant_id for c in library] == ["ppc-deal-hunter-a", "ppc-deal-hunter-b"]
    for c in library:
        assert c.compliance != "red"
        assert "Deal Hunter" in c.headline, c
    default_heads = {h.split("{")[0].strip().lower() for h in config.templates["default"].headlines}
    assert any(p and p in c.headline.lower() for c in library for p in default_heads)


def test_context_fills_category_and_offer(config):
    request = CreativeRequest(
        "value_shopper", "Value Shopper", "Email", variants=3, context={"category": "Grocery"}
    )
    texts = [h + " " + b for h, b in TemplateGenerator(config).candidates(request)]
    assert any("Grocery" in t for t in texts)
    assert any("weekly deals" in t.lower() for t in texts)  # the segment's offer
    offer = CreativeRequest(
        "value_shopper", "Value Shopper", "Email", context={"offer": "2 for 1 on pasta"}
    )
    assert any("2 for 1 on pasta" in h + b for h, b in TemplateGenerator(config).candidates(offer))


def test_landing_url_is_on_the_domain_with_utm_tags(config):
    (first, *_) = build_library([CreativeRequest("speed_seeker", "Speed Seeker", "CTV")])
    url = urlsplit(first.landing_url)
    assert url.scheme == "https" and url.hostname == "www.example-retailer.com"
    assert url.path == "/pickup"
    query = parse_qs(url.query)
    assert query["utm_source"] == ["hulu"] and query["utm_medium"] == ["cpv"]
    assert query["utm_content"] == [first.variant_id]


def test_more_variants_and_letters(config):
    request = CreativeRequest("lapsing", "Lapsing", "Email", variants=4)
    library = build_library([request], config=config)
    assert [c.variant_id[-1] for c in library] == list("abcd")
    assert [variant_letter(i) for i in (0, 1, 25, 26, 27, 701, 702)] == [
        "a",
        "b",
        "z",
        "aa",
        "ab",
        "zz",
        "aaa",
    ]


def test_request_is_hashable_and_validated():
    a = CreativeRequest("x", "X", "PPC", context={"b": "2", "a": "1"})
    b = CreativeRequest("x", "X", "PPC", context=(("a", "1"), ("b", "2")))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.get("a") == "1" and a.get("zz", "d") == "d"
    with pytest.raises(CreativeError, match="between 2 and 26"):
        CreativeRequest("x", "X", "PPC", variants=1)
    with pytest.raises(CreativeError, match="needs a name"):
        CreativeRequest("x", " ", "PPC")


def test_unknown_channel_and_duplicate_requests_fail(config):
    with pytest.raises(CreativeError, match="'TikTok' is not configured"):
        build_library([CreativeRequest("value_shopper", "Value Shopper", "TikTok")], config=config)
    twice = [
        CreativeRequest("value_shopper", "Value Shopper", "PPC"),
        CreativeRequest("value-shopper", "Value Shopper", "PPC"),
    ]
    with pytest.raises(CreativeError, match="requested twice"):
        build_library(twice, config=config)


# ------------------------------------------------------------------ determinism


def _library_json(library: list[Creative]) -> str:
    return json.dumps([dataclasses.asdict(c) for c in library], sort_keys=True)


def test_same_inputs_same_library(config):
    segments = {**configured_segments(config), "deal_hunter": "Deal Hunter"}
    first = build_library(requests_for(segments, CHANNELS), TemplateGenerator(config), config)
    again = build_library(requests_for(segments, CHANNELS), TemplateGenerator(config), config)
    assert first == again
    assert _library_json(first) == _library_json(again)


def test_library_does_not_depend_on_the_hash_seed(config):
    # Python's hash() of strings changes per process; the template rotation must not use it.
    code = (
        "import dataclasses, json\n"
        "from retail_assets.lib.activation.creatives import build_library, requests_for\n"
        "segs = {'value_shopper': 'Value Shopper', 'deal_hunter': 'Deal Hunter'}\n"
        "lib = build_library(requests_for(segs, ['Display', 'CTV', 'PPC', 'Email']))\n"
        "print(json.dumps([dataclasses.asdict(c) for c in lib], sort_keys=True))\n"
    )
    root = Path(__file__).resolve().parents[1]
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        env.pop("RETAIL_CONFIG_DIR", None)
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout.strip())
    segs = {"value_shopper": "Value Shopper", "deal_hunter": "Deal Hunter"}
    outputs.add(_library_json(build_library(requests_for(segs, CHANNELS), config=config)))
    assert len(outputs) == 1


# ------------------------------------------------------------------ scoring


@pytest.mark.parametrize(
    ("body", "claim", "offending"),
    [
        ("Guaranteed savings on favourites", "guaranteed", "Guaranteed"),
        ("Fresh picks, GUARANTEED.", "guaranteed", "GUARANTEED"),
        ("Every order guarantees a smile", "guaranteed", "guarantees"),
        ("Best price guaranteed on favourites", "best price guaranteed", "Best price guaranteed"),
        ("Risk Free returns on favourites", "risk-free", "Risk Free"),
        ("Risk\u2011free returns on favourites", "risk-free", "Risk\u2010free"),
        ("riskfree returns on favourites", "risk-free", "riskfree"),
        ("We're #1 for fresh picks", "#1", "#1"),
        ("The No. 1 place to discover", "#1", "No. 1"),
        ("Discover 100 % free delivery", "100% free", "100 % free"),
        ("The lowest prices ever on favourites", "lowest price", "lowest prices"),
        ("The cheapest favourites", "cheapest", "cheapest"),
        ("Miracle cream, freshly stocked", "miracle", "Miracle"),
        ("A tea that cures colds", "cure", "cures"),
        ("Clinically-proven favourites", "clinically proven", "Clinically-proven"),
        ("Free money for new members", "free money", "Free money"),
        ("Win $500 when you discover more", "money to win or earn", "Win $500"),
        ("Gua\u200branteed fresh picks", "guaranteed", "Guaranteed"),
    ],
)
def test_banned_claims_are_red_and_named(config, body, claim, offending):
    verdict = score_creative("Discover fresh picks", body, "Email", config)
    assert verdict.compliance == "red"
    assert verdict.score < 40
    wanted = f"banned claim {claim!r} in preheader: {offending!r}"
    assert wanted in verdict.reasons, verdict.reasons


@pytest.mark.parametrize(
    "body",
    [
        "Secure checkout on your favourites",
        "Discover curated picks, freshly stocked",
        "Manicure sets and fresh favourites",
        "Freedom to explore new favourites",
        "Discover our #10 pick of the week",
        "Procurement made easy for your favourites",
        "A risky free-spirited style to discover",
        "Numbered prints, ready to frame",
        "Sizes 8 to 16 from $1,299.99, new on 2025-03-01",
    ],
)
def test_innocent_words_are_not_flagged(config, body):
    verdict = score_creative("Discover fresh picks", body, "Email", config)
    assert verdict.compliance == "green", verdict.reasons


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("Questions? Email help@example-retailer.com for favourites", "email address"),
        ("Call +1 (555) 010-0199 to discover more", "phone number"),
        ("Call 020 7946 0958 to discover more", "phone number"),
        ("Call 555-0100 to discover more", "phone number"),
        ("Discover more at bit.ly/fresh-picks", "link off the landing domain"),
        ("Discover more at https://other-shop.com/deals", "link off the landing domain"),
        ("Discover {offer} today", "unfilled placeholder"),
    ],
)
def test_personal_data_links_and_placeholders_are_red(config, body, rule):
    verdict = score_creative("Discover fresh picks", body, "Email", config)
    assert verdict.compliance == "red"
    assert any(r.startswith(rule) for r in verdict.reasons), verdict.reasons


def test_links_to_the_landing_domain_are_fine(config):
    for body in (
        "Discover more at example-retailer.com",
        "Discover more at www.example-retailer.com/deals.",
        "Discover more at https://shop.example-retailer.com/new",
    ):
        assert score_creative("Fresh picks", body, "Email", config).compliance == "green", body


@pytest.mark.parametrize(
    ("headline", "body", "rule"),
    [
        (
            "DISCOVER fresh picks",
            "Your favourites, ready now",
            "shouting in subject line: 'DISCOVER'",
        ),
        ("Discover fresh picks!!", "Your favourites, ready now", "repeated exclamation marks"),
        ("Discover fresh picks", "Your favourites?!", "repeated exclamation marks"),
        ("Discover cheap picks", "Your favourites, ready now", "discouraged tone 'cheap'"),
        ("Hurry, act now", "Your favourites, ready now", "discouraged tone 'act now'"),
        ("Shop the range", "Everything in store", "no brand-tone word"),
    ],
)
def test_tone_problems_are_amber(config, headline, body, rule):
    verdict = score_creative(headline, body, "Email", config)
    assert verdict.compliance == "amber"
    assert 40 <= verdict.score < 80
    assert any(r.startswith(rule) for r in verdict.reasons), verdict.reasons


def test_allowed_acronyms_and_the_brand_are_not_shouting(config):
    verdict = score_creative("Discover OLED and HDMI picks", "Fresh at Example Retailer", "Email")
    assert verdict.compliance == "green", verdict.reasons


def test_length_limits(config):
    limit = config.channels["PPC"].headline_max
    fits = "Discover " + "a" * (limit - 12)  # comfortably inside
    near = "Discover " + "a" * (limit - 9)  # exactly at the limit
    over = "Discover " + "a" * (limit - 8)
    assert score_creative(fits, "Fresh picks", "PPC", config).compliance == "green"
    at_limit = score_creative(near, "Fresh picks", "PPC", config)
    assert at_limit.compliance == "amber"
    assert at_limit.reasons == (f"headline near the PPC limit: {limit} of {limit} characters",)
    too_long = score_creative(over, "Fresh picks", "PPC", config)
    assert too_long.compliance == "red"
    assert f"headline over the PPC limit: {limit + 1} > {limit} characters" in too_long.reasons
    assert score_creative("Discover", "", "PPC", config).reasons[0] == "empty description"
    assert score_creative("Discover", "Fresh", "Radio", config).compliance == "red"


def test_scores_order_the_lights(config):
    green = score_creative("Discover fresh picks", "Your favourites", "Email", config)
    amber = score_creative("DISCOVER fresh picks", "Your favourites", "Email", config)
    worse = score_creative("DISCOVER cheap picks!!", "Your favourites", "Email", config)
    red = score_creative("Discover fresh picks", "Guaranteed favourites", "Email", config)
    assert green.score == 100 and green.reasons == ()
    assert green.score > amber.score > worse.score > red.score
    assert worse.compliance == "amber"


# ------------------------------------------------------------------ truncation


def test_truncation_never_cuts_a_word():
    rng = random.Random(7)
    vocabulary = "fresh favourites, discover ready-to-go new season picks & more. deals".split()
    for _ in range(2000):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 25))]
        text = " ".join(words)
        limit = rng.randint(1, 120)
        cut = truncate_words(text, limit)
        assert len(cut) <= limit
        if not cut:
            continue
        kept = cut.split(" ")
        assert kept[:-1] == words[: len(kept) - 1], (text, limit, cut)
        # The last word may lose a trailing comma or dash, never letters.
        assert words[len(kept) - 1].startswith(kept[-1]), (text, limit, cut)
        assert words[len(kept) - 1].rstrip(",;:-.") == kept[-1].rstrip(",;:-."), (text, cut)


def test_truncation_prefers_sentences_and_drops_dangling_words():
    assert truncate_words("Fresh picks ready now. Discover more favourites today", 30) == (
        "Fresh picks ready now."
    )
    assert truncate_words("Fresh ideas for you and your family today", 24) == "Fresh ideas for you"
    assert truncate_words("Supercalifragilistic", 10) == ""
    assert truncate_words("  short   text ", 40) == "short text"


def test_long_context_is_cut_at_word_boundaries(config):
    category = "Outdoor furniture, barbecues and garden lighting for summer evenings"
    request = CreativeRequest(
        "value_shopper", "Value Shopper", "PPC", variants=3, context={"category": category}
    )
    library = build_library([request], config=config)
    limits = config.channels["PPC"]
    words = set(re.findall(r"[\w'%&-]+", " ".join(config.templates["value_shopper"].headlines)))
    words |= set(re.findall(r"[\w'%&-]+", category + " weekly deals Example Retailer"))
    words |= {w.capitalize() for w in words}
    assert len([c for c in library if c.compliance != "red"]) >= 2
    for c in library:
        assert len(c.headline) <= limits.headline_max and len(c.body) <= limits.body_max
        for word in re.findall(r"[\w'%&-]+", c.headline):
            assert word in words, (word, c.headline)


# ------------------------------------------------------------------ generators and the gate


class FakeLLM:
    """Stands in for an LLM client: one banned claim, one good line twice, one shouting line."""

    name = "fake-llm"

    def __init__(self, replies: list[tuple[str, str]] | None = None):
        self.replies = replies
        self.calls: list[CreativeRequest] = []

    def generate(self, request: CreativeRequest) -> list[tuple[str, str]]:
        self.calls.append(request)
        if self.replies is not None:
            return list(self.replies)
        return [
            ("Guaranteed lowest prices", f"Risk-free deals for every {request.segment_name}"),
            ("Discover fresh favourites", "New picks, ready when you are."),
            ("discover  fresh favourites", "new picks, ready when you are. "),
            ("Miracle savings", "Call 555-0100 to claim your cure-all"),
        ]


def test_llm_output_is_scored_kept_visible_and_topped_up(config):
    llm = FakeLLM()
    assert isinstance(llm, CreativeGenerator)
    requests = requests_for(
        {"value_shopper": "Value Shopper", "deal_hunter": "Deal Hunter"}, CHANNELS
    )
    library = build_library(requests, llm, config)
    assert len(llm.calls) == len(requests)
    for (segment, channel), creatives in by_pair(library).items():
        red = [c for c in creatives if c.compliance == "red"]
        usable = [c for c in creatives if c.compliance != "red"]
        # Both banned replies stay visible with their reasons; the duplicate is dropped.
        assert [c.headline for c in red] == ["Guaranteed lowest prices", "Miracle savings"]
        assert all(c.source == "fake-llm" for c in red)
        assert any("banned claim 'guaranteed'" in r for r in red[0].reasons)
        assert any("banned claim 'risk-free'" in r for r in red[0].reasons)
        assert any(r.startswith("phone number") for r in red[1].reasons)
        assert len(usable) == 2, (segment, channel)
        assert usable[0].source == "fake-llm"
        assert usable[0].headline == "Discover fresh favourites"
        assert usable[1].source == "template"
        copies = [(c.headline.casefold(), c.body.casefold()) for c in creatives]
        assert len(copies) == len(set(copies))
        ids = [c.variant_id for c in creatives]
        assert ids == [f"{channel.lower()}-{segment.replace('_', '-')}-{x}" for x in "abcd"]
    ready = payload_ready(library, config)
    assert ready and all(c.compliance != "red" for c in ready)
    assert {c.variant_id for c in ready} == {c.variant_id for c in library if c.compliance != "red"}


def test_llm_returning_only_red_is_fully_topped_up(config):
    llm = FakeLLM([("Number one deals", "Guaranteed!!"), ("FREE MONEY", "Email me@x.com")])
    library = build_library([CreativeRequest("speed_seeker", "Speed Seeker", "PPC")], llm, config)
    assert [c.compliance == "red" for c in library] == [True, True, False, False]
    assert [c.source for c in library] == ["fake-llm", "fake-llm", "template", "template"]
    assert len(payload_ready(library, config)) == 2


def test_llm_extra_good_variants_are_capped(config):
    replies = [(f"Discover fresh pick {n}", "Your favourites, ready now") for n in "xyz"]
    library = build_library(
        [CreativeRequest("speed_seeker", "Speed Seeker", "Email")], FakeLLM(replies), config
    )
    assert [c.headline for c in library] == ["Discover fresh pick x", "Discover fresh pick y"]


def test_malformed_generator_output_fails(config):
    request = CreativeRequest("speed_seeker", "Speed Seeker", "PPC")
    for reply in (["just a headline"], [("one", "two", "three")], [("headline", None)]):
        with pytest.raises(CreativeError, match="expected a \\(headline, body\\) pair"):
            build_library([request], FakeLLM(reply), config)  # type: ignore[arg-type]


def test_no_non_red_copy_at_all_fails_loudly(config):
    # Every default headline names the segment, so a banned segment name poisons them all.
    request = CreativeRequest("miracle", "Miracle Cure", "Email")
    with pytest.raises(CreativeError, match=r"only 0 non-red variant.*banned claim 'miracle'"):
        build_library([request], config=config)


def test_payload_ready_cannot_let_red_through(config):
    (good, *_) = build_library([CreativeRequest("lapsing", "Lapsing", "Email")], config=config)
    forged = dataclasses.replace(good, body="Guaranteed cure, risk-free")  # still says "green"
    off_domain = dataclasses.replace(good, landing_url="https://evil.example.org/?x=1")
    flagged = dataclasses.replace(good, compliance="red", score=10)
    over = dataclasses.replace(good, headline="Discover " * 10)
    wrong_channel = dataclasses.replace(good, channel="Radio")
    ready = payload_ready([good, forged, off_domain, flagged, over, wrong_channel], config)
    assert ready == [good]
    with pytest.raises(CreativeError):
        dataclasses.replace(good, compliance="blue")
    with pytest.raises(CreativeError):
        dataclasses.replace(good, score=101)
