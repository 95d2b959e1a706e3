"""docs/providers.md opens with a table of every engine, made from the catalog, so it cannot go
stale: a model added, repriced or re-dated in providers/catalog.py fails this test until the
page is regenerated with `PYTHONPATH=src python tests/test_provider_table.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nbvideo.keys import ENV
from nbvideo.providers import catalog
from nbvideo.providers.catalog import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "providers.md"
BEGIN = "<!-- engine table: generated from providers/catalog.py by tests/test_provider_table.py -->"
END = "<!-- end of engine table -->"
TIERS = {1: "draft", 2: "good", 3: "cinematic"}
VENDORS = {"local": "offline", "openai": "OpenAI", "replicate": "Replicate", "runway": "Runway",
           "elevenlabs": "ElevenLabs", "heygen": "HeyGen"}


def _good_for(m: ModelSpec) -> str:
    tier = f"tier {m.quality_tier} ({TIERS[m.quality_tier]})"
    if m.kind == "text":
        return f"planning: questions and storyboard; {tier}"
    if m.kind == "image":
        ref = f"; takes the look's product photo (`{m.reference_input}`)" if m.reference_input else ""
        return f"storyboard frames; {tier}{ref}"
    if m.kind == "audio":
        return f"voice-over: {m.title}"
    lengths = ("any length" if not m.durations_s
               else "lengths " + ", ".join(f"{d:g}" for d in m.durations_s) + " s")
    sound = ", with sound" if m.audio else ""
    what = "presenter scenes (an avatar says the line)" if m.presenter else "b-roll clips"
    return f"{what}; {tier}; {lengths}{sound}"


def _price(m: ModelSpec) -> str:
    p = m.prices_usd
    if m.price_basis == "free":
        return "free"
    if m.price_basis == "per_token":
        text = f"${p['input_mtok']:g} / ${p['output_mtok']:g} per M tokens in / out"
    elif m.price_basis == "per_image":
        text = f"${p['image']:g} per image"
    elif m.price_basis == "per_character":
        text = f"${p['mchar']:g} per M characters"
    elif m.price_basis == "per_audio_minute":
        text = f"${p['minute']:g} per audio minute"
    elif m.price_basis == "per_credit":
        text = f"${p['credit']:g} per credit ({p['seconds_per_credit']:g} s of video per credit)"
    else:
        unit = "per second" if m.price_basis == "per_second" else "per clip"
        text = ", ".join(f"${v:g} {unit} at {k}" for k, v in p.items())
    src = m.price_source.strip()
    where = f"[source]({src.split()[0]})" if src.startswith("http") else (src or "no source")
    return f"{text}; read {m.price_date or 'undated'}, {where}"


def render() -> str:
    rows = ["| engine | vendor model id | good for | price (as read) | keys |",
            "| --- | --- | --- | --- | --- |"]
    for m in catalog.models():
        key = f"`{ENV[m.provider]}`" if m.provider in ENV else "none"
        cell = lambda s: s.replace("|", "\\|")
        rows.append(f"| {VENDORS.get(m.provider, m.provider)} `{m.id}` | `{m.ref}` | "
                    f"{cell(_good_for(m))} | {cell(_price(m))} | {key} |")
    return "\n".join([BEGIN, *rows, END])


def _block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def test_the_engine_table_lists_every_catalog_model_as_the_catalog_has_it() -> None:
    page = PAGE.read_text()
    assert BEGIN in page and END in page, f"{PAGE} lost its engine table markers"
    block = _block(page)
    for m in catalog.models():
        assert f"`{m.id}`" in block and f"`{m.ref}`" in block, f"{m.id} is missing"
    assert block == render(), ("docs/providers.md's engine table differs from the catalog: "
                               "run `PYTHONPATH=src python tests/test_provider_table.py`")
    # it opens the page: the first thing after the title and one paragraph
    assert page.index(BEGIN) < page.index("## Keys")


if __name__ == "__main__":  # regenerate the table in place
    text = PAGE.read_text()
    PAGE.write_text(text.replace(_block(text), render()))
    sys.stdout.write("docs/providers.md: engine table regenerated\n")
