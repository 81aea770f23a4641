"""Media history: the simulator's per-day determinism and the CSV reader's errors."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest

from retail_assets.lib.activation.media import (
    MEDIA_SCHEMA,
    ChannelSimulation,
    MediaHistoryError,
    TrueCurve,
    read_media_history,
    simulate_media_history,
)

CHANNELS = [
    ChannelSimulation("PPC", 3000, TrueCurve(230, 2000, 0.0)),
    ChannelSimulation("Email", 500, TrueCurve(70, 60, 0.2), value_per_conversion=48),
    ChannelSimulation("CTV", 2800, TrueCurve(500, 18000, 0.5)),
]
END = dt.date(2025, 3, 1)


def test_simulation_shape_and_ground_truth():
    df = simulate_media_history(CHANNELS, END, 120, seed=7)
    assert df.schema == pl.Schema(MEDIA_SCHEMA)
    assert df.height == 3 * 120
    assert df["channel"].unique().sort().to_list() == ["CTV", "Email", "PPC"]
    assert df["date"].min() == END - dt.timedelta(days=119) and df["date"].max() == END
    assert (df["spend"] >= 0).all() and (df["conversions"] >= 0).all()
    cents = df["spend"] * 100
    assert ((cents - cents.round(0)).abs() < 1e-6).all()
    for ch in CHANNELS:
        part = df.filter(pl.col("channel") == ch.name)
        spend = part["spend"].to_numpy()
        # Spend moves enough (lognormal, weekdays, test weeks) to identify the saturation.
        assert 0.8 * ch.daily_spend < spend.mean() < 1.2 * ch.daily_spend
        assert spend.std() / spend.mean() > 0.3
        expected = ch.true_curve.response(ch.daily_spend)
        assert 0.75 * expected < part["conversions"].mean() < 1.25 * expected
    email = df.filter(pl.col("channel") == "Email")
    value = email["revenue"].sum() / email["conversions"].sum()
    assert value == pytest.approx(48, rel=0.02)


def test_a_day_is_the_same_in_every_window():
    long = simulate_media_history(CHANNELS, END, 200, seed=3)
    short = simulate_media_history(CHANNELS[::-1], END - dt.timedelta(days=50), 10, seed=3)
    joined = short.join(long, on=["date", "channel"], how="left", suffix="_long")
    assert joined.height == 30
    for column in ("spend", "conversions", "revenue"):
        assert (joined[column] == joined[f"{column}_long"]).all()
    # The same day with another seed is another draw.
    other = simulate_media_history(CHANNELS, END, 200, seed=4)
    assert not (other["spend"] == long["spend"]).all()


def test_simulation_validates_its_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        simulate_media_history(CHANNELS, END, 0, seed=1)
    with pytest.raises(ValueError, match="unique"):
        simulate_media_history([CHANNELS[0], CHANNELS[0]], END, 5, seed=1)


def test_csv_round_trip(tmp_path):
    df = simulate_media_history(CHANNELS, END, 60, seed=11)
    path = tmp_path / "media.csv"
    # Users' exports come in any row order, with extra columns.
    df.sample(fraction=1.0, shuffle=True, seed=1).with_columns(pl.lit("x").alias("note")).write_csv(
        path
    )
    back = read_media_history(path)
    assert back.equals(df)


def test_csv_without_revenue_has_null_revenue(tmp_path):
    path = tmp_path / "media.csv"
    path.write_text("date,channel,spend,conversions\n2025-01-02,PPC,10.5,3\n2025-01-01,PPC,0,0\n")
    back = read_media_history(path)
    assert back.schema == pl.Schema(MEDIA_SCHEMA)
    assert back["date"].to_list() == [dt.date(2025, 1, 1), dt.date(2025, 1, 2)]
    assert back["revenue"].null_count() == 2
    assert back["conversions"].to_list() == [0, 3]


HEADER = "date,channel,spend,conversions,revenue\n"
GOOD = "2025-01-01,PPC,100.0,5,250\n2025-01-02,PPC,110.0,6,300\n"
# Rows appended to a good file (or the whole file, as bytes), the column named, rows counted.
BAD_CASES = {
    "empty": (b"", "<file>", None),
    "header_only": (HEADER.encode(), "<file>", None),
    "missing_column": (b"date,channel,spend\n2025-01-01,PPC,1\n", "conversions", 1),
    "bad_date": ("01/03/2025,PPC,1,1,1\n2025-13-01,PPC,1,1,1\n", "date", 2),
    "text_spend": ("2025-01-03,PPC,abc,1,1\n", "spend", 1),
    "text_conversions": ("2025-01-03,PPC,1,many,1\n", "conversions", 1),
    "fractional_conversions": ("2025-01-03,PPC,1,1.5,1\n", "conversions", 1),
    "negative_spend": ("2025-01-03,PPC,-1,1,1\n2025-01-04,PPC,-2,1,1\n", "spend", 2),
    "negative_conversions": ("2025-01-03,PPC,1,-1,1\n", "conversions", 1),
    "negative_revenue": ("2025-01-03,PPC,1,1,-5\n", "revenue", 1),
    "text_revenue": ("2025-01-03,PPC,1,1,lots\n", "revenue", 1),
    "empty_spend": ("2025-01-03,PPC,,1,1\n", "spend", 1),
    "duplicate_day": ("2025-01-02,PPC,5,1,1\n", "date, channel", 2),
    "not_utf8": ((HEADER + GOOD).encode() + b"2025-01-03,Caf\xe9,1,1,1\n", "<file>", 1),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_csv_names_file_column_and_rows(tmp_path, case):
    content, column, rows = BAD_CASES[case]
    if isinstance(content, str):
        content = (HEADER + GOOD + content).encode()
    path = tmp_path / f"{case}.csv"
    path.write_bytes(content)
    with pytest.raises(MediaHistoryError) as err:
        read_media_history(path)
    message = str(err.value)
    assert message.startswith(f"{case}.csv: column {column!r}: "), message
    assert err.value.column == column
    if rows is not None:
        assert err.value.rows == rows
        assert re.search(rf"\b{rows} (of \d+ rows|rows\))", message), message
    assert isinstance(err.value, ValueError)


def test_missing_file_is_a_media_history_error(tmp_path):
    with pytest.raises(MediaHistoryError, match=r"nowhere\.csv: column '<file>': cannot be read"):
        read_media_history(tmp_path / "nowhere.csv")


def test_good_rows_alongside_the_bad_are_not_reported(tmp_path):
    rows = [f"2025-01-{d:02d},PPC,{10 * d},{d},{5 * d}" for d in range(1, 29)]
    rows[9] = "2025-01-10,PPC,-3,1,1"
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    with pytest.raises(
        MediaHistoryError, match=r"1 of 28 rows are negative \(row 10; e\.g\. '-3'\)"
    ):
        read_media_history(path)
    rows[9] = "2025-01-10,PPC,3,1,1"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    assert np.isclose(
        read_media_history(path)["spend"].sum(), sum(10 * d for d in range(1, 29)) - 97
    )
