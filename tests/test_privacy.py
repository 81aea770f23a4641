"""Normalization, keyed pseudonyms, key files and rotation, and activation match keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import dagster as dg
import polars as pl
import pytest

from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.config import load_simulation_config
from retail_assets.lib.governance.match_keys import (
    google_customer_match,
    match_keys_for,
    meta_capi,
    sha256_hex,
)
from retail_assets.lib.governance.privacy import govern_customers
from retail_assets.lib.governance.pseudonyms import (
    REKEY_COLUMNS,
    KeyRing,
    Pseudonymizer,
    normalize_email,
    normalize_identifier,
    normalize_phone,
)
from retail_assets.lib.settings import Settings, SettingsError, parse_previous_keys
from retail_assets.lib.sources.simulator import Simulator

JOHN = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
K1, K2 = "1" * 40, "2" * 40


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    """10,000 simulated customers: emails like first.last123@example.com, phones +1 555 ..."""
    sim = Simulator(load_simulation_config(), seed=11, customers=10_000)
    return sim.customers_frame()


# ----------------------------------------------------------- known answers


def test_known_answer_vectors():
    assert sha256_hex("john_smith@gmail.com") == JOHN
    assert meta_capi(email=" John_Smith@Gmail.COM ")["em"] == JOHN
    assert google_customer_match(email="john_smith@gmail.com\n")["hashed_email"] == JOHN

    ph = meta_capi(phone="(650)555-1212")["ph"]
    assert ph.startswith("e323ec62") and ph.endswith("3176")
    assert ph == hashlib.sha256(b"16505551212").hexdigest()

    gph = google_customer_match(phone="(650)555-1212")["hashed_phone_number"]
    assert gph.startswith("1e231c66") and gph.endswith("fbc8")
    assert gph == hashlib.sha256(b"+16505551212").hexdigest()


def test_match_key_dicts_leave_out_missing_and_invalid_inputs():
    assert google_customer_match() == {} and meta_capi() == {}
    assert meta_capi(email="   ", phone="not a phone") == {}
    assert set(meta_capi(email="a@b.co", phone="12")) == {"em"}
    assert set(google_customer_match(phone="+1 650 555 1212")) == {"hashed_phone_number"}


# ----------------------------------------------------------- normalization


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john@example.com", "john@example.com"),
        ("  John@Example.COM\t", "john@example.com"),
        ("\nJOHN_SMITH@GMAIL.COM ", "john_smith@gmail.com"),
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(650)555-1212", "US", "+16505551212"),
        ("650.555.1212", "US", "+16505551212"),
        ("1-650-555-1212", "US", "+16505551212"),
        (" +1 (650) 555-1212 ", "US", "+16505551212"),
        ("+16505551212 ext. 12", "US", "+16505551212"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        # The simulator's fictional numbers: possible, so kept.
        ("+1 555 0001234", "US", "+15550001234"),
    ],
)
def test_normalize_phone_to_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12", "555-1212", "+1 650 555 12"])
def test_normalize_phone_returns_none_when_not_a_phone(raw):
    assert normalize_phone(raw) is None


def test_normalize_phone_strict_requires_an_assigned_range():
    assert normalize_phone("+1 555 0001234", strict=True) is None
    assert normalize_phone("(650)555-1212", strict=True) == "+16505551212"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" C00000001 ", "C00000001"),
        ("c00000001", "c00000001"),  # not an email: case is kept
        ("1456837483.1638316800\n", "1456837483.1638316800"),
        (" John@Example.COM ", "john@example.com"),
        ("Team@Local", "Team@Local"),  # no dot in the domain: not an email
    ],
)
def test_normalize_identifier(raw, expected):
    assert normalize_identifier(raw) == expected


def test_pseudonyms_are_computed_on_normalized_identifiers():
    p = Pseudonymizer(K1, "k1")
    assert p.hash_one(" John@Example.COM ") == p.hash_one("john@example.com")
    assert p.hash_one("C00000001") != p.hash_one("c00000001")
    expected = hmac.new(K1.encode(), b"john@example.com", hashlib.sha256).hexdigest()
    assert p.hash_one("JOHN@example.com") == expected
    # Keys longer than SHA-256's block are hashed first: still standard HMAC.
    long_key = "L" * 100
    reference = hmac.new(long_key.encode(), b"C1", hashlib.sha256).hexdigest()
    assert Pseudonymizer(long_key, "k9").hash_one("C1") == reference
    s = p.hash_series(pl.Series(["john@example.com", " JOHN@EXAMPLE.COM", None, "C1 "]))
    assert s[0] == s[1] == expected and s[2] is None and s[3] == p.hash_one("C1")


def test_user_id_and_user_pseudo_id_are_normalized_alike():
    p = Pseudonymizer(K1, "k1")
    frame = pl.DataFrame(
        {
            "customer_id": [" Ann@Shop.COM", "C2"],
            "user_pseudo_id": ["ann@shop.com ", " 123.456 "],
            "persona": ["a", "b"],
            "age": [30, 40],
            "income_band": ["low", "high"],
            "household_size": [1, 2],
            "home_store": ["S001", "S002"],
            "first_seen": [None, None],
            "analytics_storage": ["Yes", "Yes"],
            "ads_storage": ["Yes", "No"],
            "ad_user_data": ["Yes", "No"],
            "ad_personalization": ["Yes", "No"],
        }
    )
    governed, _ = govern_customers(frame, p)
    assert governed["customer_key"][0] == governed["user_key"][0] == p.hash_one("ann@shop.com")
    assert governed["user_key"][1] == p.hash_one("123.456")


# ----------------------------------------------------------- keyed hashing


def test_hmac_deterministic_keyed_and_never_plain_sha256(customers):
    a, a2, b = Pseudonymizer(K1, "k1"), Pseudonymizer(K1, "k1"), Pseudonymizer(K2, "k2")
    emails = customers["email"].to_list()
    ha, hb = a.hash_series(customers["email"]), b.hash_series(customers["email"])
    assert ha.to_list() == a2.hash_series(customers["email"]).to_list()
    assert ha.n_unique() == len(emails)
    assert not set(ha) & set(hb)
    plain = {sha256_hex(normalize_identifier(e)) for e in emails}
    assert not plain & set(ha) and not plain & set(hb)


def test_dictionary_attack_inverts_plain_sha256_but_not_hmac(customers):
    emails = customers["email"].to_list()
    assert len(set(emails)) == 10_000 and emails[0].endswith("@example.com")
    # The attacker knows every candidate address (a breach list, or the email pattern).
    rainbow = {sha256_hex(normalize_email(c)): c for c in emails}

    plain = [sha256_hex(normalize_email(e)) for e in emails]
    inverted = [rainbow.get(h) for h in plain]
    assert inverted == emails  # 100 %

    secret = Pseudonymizer(secrets.token_hex(32), "k1")
    keyed = secret.hash_series(customers["email"]).to_list()
    # Without the key the attacker can only try plain hashes and guessed keys.
    guesses = [Pseudonymizer(g, "guess") for g in ("", "k1", K1, secrets.token_hex(32))]
    tables = [rainbow] + [{g.hash_one(c): c for c in emails} for g in guesses]
    assert sum(any(h in t for t in tables) for h in keyed) == 0  # 0 %


# ----------------------------------------------------------- match keys


def _consent_frame() -> pl.DataFrame:
    values = ["Yes", "GRANTED", "Granted", "No", "Unset", "DENIED", None]
    pairs = [(u, p) for u in values for p in values]
    return pl.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(len(pairs))],
            "email": [f"u{i}@example.com" for i in range(len(pairs))],
            "phone": ["+1 650 555 1212"] * len(pairs),
            "ad_user_data": [u for u, _ in pairs],
            "ad_personalization": [p for _, p in pairs],
        }
    )


@pytest.mark.parametrize("platform", ["google_ads", "dv360", "meta"])
def test_match_keys_only_for_rows_with_both_ad_consents(platform):
    frame = _consent_frame()
    keys = match_keys_for(frame, platform)
    granted = {"Yes", "GRANTED", "Granted"}
    expected = frame.filter(
        pl.col("ad_user_data").is_in(granted) & pl.col("ad_personalization").is_in(granted)
    )
    assert expected.height == 9
    assert keys["customer_id"].to_list() == expected["customer_id"].to_list()
    email_col = "em" if platform == "meta" else "hashed_email"
    assert keys[email_col].to_list() == [sha256_hex(e) for e in expected["email"]]
    # No contact data leaves in the clear.
    assert not {"email", "phone"} & set(keys.columns)


def test_match_keys_on_simulated_customers(customers):
    keys = match_keys_for(customers, "meta")
    both = customers.filter(
        (pl.col("ad_user_data") == "Yes") & (pl.col("ad_personalization") == "Yes")
    )
    assert 0 < keys.height == both.height < customers.height
    assert keys["customer_id"].to_list() == both["customer_id"].to_list()
    assert keys["ph"].null_count() == 0
    first = both.row(0, named=True)
    assert keys.row(0, named=True) == {
        "customer_id": first["customer_id"],
        **meta_capi(first["email"], first["phone"]),
    }


def test_match_keys_invalid_phone_gives_null_and_keyless_rows_are_dropped():
    frame = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "email": ["a@x.com", None, None],
            "phone": ["nope", "(650)555-1212", "12"],
            "ad_user_data": ["Yes"] * 3,
            "ad_personalization": ["Yes"] * 3,
        }
    )
    keys = match_keys_for(frame, "google")
    assert keys["customer_id"].to_list() == ["a", "b"]
    assert keys["hashed_phone_number"].to_list() == [None, sha256_hex("+16505551212")]


def test_match_keys_refuse_frames_without_consent_and_unknown_platforms():
    frame = _consent_frame()
    with pytest.raises(ValueError, match="consent"):
        match_keys_for(frame.drop("ad_user_data", "ad_personalization"), "meta")
    with pytest.raises(ValueError, match="ad_personalization"):
        match_keys_for(frame.drop("ad_personalization"), "meta")
    with pytest.raises(ValueError, match="platform"):
        match_keys_for(frame, "ttd")


# ----------------------------------------------------------- key file and key ring


def test_key_file_is_an_alternative_to_the_key(tmp_path):
    path = tmp_path / "pepper"
    path.write_text(K1 + "\n")
    env = {"RETAIL_PROFILE": "production", "RETAIL_PSEUDONYMIZATION_KEY_FILE": str(path)}
    assert Settings.from_env(env).resolved_key() == (K1, False)
    both = {**env, "RETAIL_PSEUDONYMIZATION_KEY": K2}
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env(both).resolved_key()


def test_short_or_missing_key_file_errors_naming_the_file(tmp_path):
    short = tmp_path / "short_pepper"
    short.write_text("tooshort\n")
    for path in (short, tmp_path / "missing_pepper"):
        env = {"RETAIL_PSEUDONYMIZATION_KEY_FILE": str(path)}
        with pytest.raises(SettingsError) as err:
            Settings.from_env(env).resolved_key()
        assert str(path) in str(err.value)
        assert "RETAIL_PSEUDONYMIZATION_KEY_FILE" in str(err.value)
        assert "tooshort" not in str(err.value)


def test_previous_keys_from_values_and_files(tmp_path):
    old = tmp_path / "k0"
    old.write_text(" " + K2 + "\n")
    literal = "b64+/=" + "x" * 40
    env = {
        "RETAIL_PSEUDONYMIZATION_KEY": K1,
        "RETAIL_KEY_ID": "k2",
        "RETAIL_PREVIOUS_KEYS": f" k0=file:{old} , k1={literal},",
    }
    settings = Settings.from_env(env)
    assert settings.resolved_previous_keys() == {"k0": K2, "k1": literal}
    assert K2 not in repr(settings) and literal not in repr(settings) and K1 not in repr(settings)
    assert Settings.from_env({}).resolved_previous_keys() == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("k0", "entry 1 must look like"),
        ("k0=", "entry 1 must look like"),
        ("k0=" + "s" * 40 + ",bad id=" + "s" * 40, "entry 2 must look like"),
        ("k0=" + "s" * 40 + ",k0=" + "t" * 40, "twice"),
    ],
)
def test_bad_previous_keys_are_rejected_without_echoing_keys(raw, message):
    with pytest.raises(SettingsError, match=message) as err:
        parse_previous_keys(raw)
    assert "s" * 40 not in str(err.value) and "RETAIL_PREVIOUS_KEYS" in str(err.value)


def test_previous_keys_must_be_long_readable_and_not_the_current_id(tmp_path):
    cases = {
        "k0=short": "at least 32",
        f"k0=file:{tmp_path / 'nope'}": "nope",
        "k1=" + "s" * 40: "reuses the current",
    }
    for raw, message in cases.items():
        with pytest.raises(SettingsError, match=message):
            Settings.from_env({"RETAIL_PREVIOUS_KEYS": raw}).resolved_previous_keys()


def test_resource_builds_the_key_ring(tmp_path):
    path = tmp_path / "pepper"
    path.write_text(K2)
    platform = RetailPlatform(
        lake_root=str(tmp_path / "lake"),
        landing_root=str(tmp_path / "landing"),
        warehouse_path=str(tmp_path / "w.duckdb"),
        profile="production",
        pseudonymization_key_file=str(path),
        key_id="k2",
        previous_keys=f"k1={K1}",
    )
    ring = platform.key_ring()
    assert ring.key_id == "k2" and ring.current.key == K2
    assert ring.pseudonymizer("k1").key == K1
    assert platform.pseudonymizer() == ring.current
    assert K1 not in repr(ring) and K2 not in repr(ring)


def test_broken_previous_key_fails_the_ring_but_not_ingestion(tmp_path):
    platform = RetailPlatform(
        lake_root=str(tmp_path / "lake"),
        landing_root=str(tmp_path / "landing"),
        warehouse_path=str(tmp_path / "w.duckdb"),
        profile="production",
        pseudonymization_key=K2,
        key_id="k2",
        previous_keys=f"k1=file:{tmp_path / 'gone_k1'}",
    )
    assert platform.pseudonymizer().key == K2
    with pytest.raises(dg.Failure, match="gone_k1"):
        platform.key_ring()


def test_key_ring_rejects_reused_ids_and_keys():
    with pytest.raises(ValueError, match="distinct"):
        KeyRing.of("k1", K1, {"k1": K2})
    with pytest.raises(ValueError, match="distinct"):
        KeyRing.of("k2", K1, {"k1": K1})
    with pytest.raises(KeyError, match="k9"):
        KeyRing.of("k2", K2, {"k1": K1}).pseudonymizer("k9")


def test_rotation_rekey_map_matches_fresh_pseudonyms(customers):
    ring = KeyRing.of("k2", K2, {"k1": K1})
    old, new = ring.pseudonymizer("k1"), ring.current
    ids = pl.concat([customers["customer_id"], customers["user_pseudo_id"]])
    mapping = ring.rekey_map(ids)
    assert tuple(mapping.columns) == REKEY_COLUMNS
    assert mapping.height == ids.n_unique() and set(mapping["old_key_id"]) == {"k1"}

    old_keys = old.hash_series(customers["customer_id"])
    translated = old_keys.replace_strict(mapping["old_pseudonym"], mapping["new_pseudonym"])
    assert translated.to_list() == new.hash_series(customers["customer_id"]).to_list()


def test_rotation_rewrite_lets_old_and_new_partitions_join(customers):
    ring = KeyRing.of("k2", K2, {"k1": K1})
    old_table, _ = govern_customers(customers, ring.pseudonymizer("k1"))
    new_table, _ = govern_customers(customers, ring.current)
    assert old_table.join(new_table, on="customer_key").height == 0  # why rotation needs this

    ids = pl.concat([customers["customer_id"], customers["user_pseudo_id"]])
    rewritten = ring.rewrite(old_table, ring.rekey_map(ids), ["customer_key", "user_key"])
    assert rewritten.equals(new_table)
    joined = rewritten.join(new_table, on=["customer_key", "user_key"])
    assert joined.height == new_table.height == old_table.height

    # A table holding both generations: rows already under k2 are left alone.
    mixed = pl.concat([old_table.head(5), new_table.slice(5)])
    out = ring.rewrite(mixed, ring.rekey_map(customers["customer_id"]), ["customer_key"])
    assert out["customer_key"].to_list() == new_table["customer_key"].to_list()
    assert set(out["key_id"]) == {"k2"}


def test_rotation_rewrite_refuses_to_leave_stale_pseudonyms(customers):
    ring = KeyRing.of("k2", K2, {"k1": K1})
    old_table, _ = govern_customers(customers.head(10), ring.pseudonymizer("k1"))
    partial = ring.rekey_map(customers["customer_id"].head(5))
    with pytest.raises(ValueError, match="not in the rekey map"):
        ring.rewrite(old_table, partial, ["customer_key"])
    foreign = old_table.with_columns(pl.lit("k0").alias("key_id"))
    with pytest.raises(ValueError, match="outside the key ring"):
        ring.rewrite(foreign, partial, ["customer_key"])


def test_keys_never_appear_in_repr():
    p = Pseudonymizer(K1, "k1")
    assert K1 not in repr(p) and "k1" in repr(p)
    assert K1 not in repr(KeyRing(p)) and K1 not in str(Settings(pseudonymization_key=K1))


def test_phone_like_ids_are_hashed_in_e164_and_other_ids_untouched():
    from retail_assets.lib.governance.pseudonyms import Pseudonymizer, normalize_identifier

    psd = Pseudonymizer("k" * 40, "k1")
    assert normalize_identifier(" +1 (650) 555-1212 ") == "+16505551212"
    assert psd.hash_one("+1 650-555-1212") == psd.hash_one("+16505551212")
    assert psd.hash_one("(650) 555-1212") == psd.hash_one("+16505551212")
    for other in ("C00000001", "123456.1700000000", "1234567890", "P0001"):
        assert normalize_identifier(other) == other
