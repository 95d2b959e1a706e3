"""The cost ledger: append-only lines, fixed DataFrame columns, torn lines survived."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbvideo.store.ledger import COLUMNS, Ledger, LedgerEntry, summarize


def test_empty_ledger_has_the_columns_and_dtypes(tmp_path: Path) -> None:
    df = Ledger(tmp_path / "ledger.jsonl").to_pandas()
    assert list(df.columns) == COLUMNS
    assert len(df) == 0
    assert str(df["cost_usd"].dtype) == "float64"


def test_rows_come_back_in_order_with_their_costs(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "ledger.jsonl")
    led.append(LedgerEntry(phase="frames", provider="replicate", model="flux-schnell",
                           units=1, unit="image", unit_price_usd=0.003, cost_usd=0.003,
                           scene="s00000001", take="f1", latency_s=2.5))
    led.append(LedgerEntry(phase="clips", provider="local", model="ffmpeg-animatic",
                           status="cache_hit", cache_hit=True))
    df = led.to_pandas()
    assert list(df["phase"]) == ["frames", "clips"]
    assert df.loc[0, "cost_usd"] == pytest.approx(0.003)
    assert bool(df.loc[1, "cache_hit"]) is True
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    led = Ledger(path)
    led.append(LedgerEntry(phase="frames", provider="local", model="m"))
    with open(path, "a") as fh:
        fh.write('{"phase": "clips", "provi')
    with pytest.warns(UserWarning, match="skipped 1"):
        df = led.to_pandas()
    assert len(df) == 1


def test_summary_groups_by_phase_and_model_with_a_total(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.jsonl")
    for cost in (0.34, 0.34):
        led.append(LedgerEntry(phase="clips", provider="replicate", model="wan", cost_usd=cost))
    led.append(LedgerEntry(phase="frames", provider="replicate", model="flux", cost_usd=0.003))
    led.append(LedgerEntry(phase="clips", provider="replicate", model="wan", cost_usd=0.34,
                           kind="estimate"))
    s = summarize(led.to_pandas())
    clips = s[s["phase"] == "clips"].iloc[0]
    assert clips["calls"] == 2 and clips["cost_usd"] == pytest.approx(0.68)
    assert s.iloc[-1]["phase"] == "total"
    assert s.iloc[-1]["cost_usd"] == pytest.approx(0.683)
