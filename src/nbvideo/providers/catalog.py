"""The model catalog: what each model can make, what it costs, and how we name it.

Prices are list prices in USD as of the date on each entry; they are data, so a team can
override them (`register`) without touching provider code. The input mapping from our request
to a model's own input fields lives with the provider that speaks that vendor's API.
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nbvideo.errors import InvalidInput, quote
from nbvideo.providers.base import Usage

PriceBasis = Literal["free", "per_clip", "per_second", "per_image", "per_token",
                     "per_character", "per_audio_minute"]


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Our name for the model, used in p.estimate(model=...).")
    provider: Literal["local", "openai", "replicate"]
    kind: Literal["text", "image", "video", "audio"]
    ref: str = Field(description="The vendor's model name, e.g. 'wan-video/wan-2.5-i2v-fast'.")
    title: str
    price_basis: PriceBasis
    prices_usd: dict[str, float] = Field(
        default_factory=dict,
        description="per_second/per_clip: by our resolution ('720p'); per_image: {'image': x}; "
        "per_token: {'input_mtok': x, 'output_mtok': y} (USD per million tokens); "
        "per_character: {'mchar': x} (USD per million input characters); "
        "per_audio_minute: {'minute': x} (USD per minute of audio made).",
    )
    durations_s: tuple[float, ...] = Field((), description="Allowed clip lengths; empty = any.")
    min_duration_s: float = 0.0
    max_duration_s: float = 0.0
    aspects: tuple[str, ...] = ()
    resolutions: dict[str, str] = Field(
        default_factory=dict, description="Our resolution -> the value the model takes."
    )
    quality_tier: int = Field(1, ge=1, le=3, description="1 draft, 2 good, 3 cinematic.")
    audio: bool = False
    reference_input: str | None = Field(
        None, description="Image model: its input field for a product reference image (the "
        "look's); None: it takes none, so only the style words reach it.")
    max_concurrency: int = Field(4, ge=1)
    prices_as_of: str = ""


_CATALOG: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add or replace a catalog entry (e.g. a negotiated price)."""
    _CATALOG[spec.id] = spec
    return spec


for _spec in (
    ModelSpec(id="rule-planner-v1", provider="local", kind="text", ref="rule-planner-v1",
              title="Offline rule-based planner", price_basis="free", max_concurrency=8),
    ModelSpec(id="pillow-storyboard", provider="local", kind="image", ref="pillow-storyboard",
              title="Offline storyboard frames (Pillow)", price_basis="free",
              aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
              max_concurrency=8),
    ModelSpec(id="ffmpeg-animatic", provider="local", kind="video", ref="ffmpeg-animatic",
              title="Offline animatic (camera move over the frame)", price_basis="free",
              min_duration_s=1.0, max_duration_s=15.0, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, max_concurrency=2),
    ModelSpec(id="gpt-4o-mini", provider="openai", kind="text", ref="gpt-4o-mini",
              title="OpenAI GPT-4o mini", price_basis="per_token",
              prices_usd={"input_mtok": 0.15, "output_mtok": 0.60}, quality_tier=2,
              max_concurrency=8, prices_as_of="2026-11"),
    ModelSpec(id="gpt-4.1", provider="openai", kind="text", ref="gpt-4.1",
              title="OpenAI GPT-4.1", price_basis="per_token",
              prices_usd={"input_mtok": 2.00, "output_mtok": 8.00}, quality_tier=3,
              max_concurrency=8, prices_as_of="2026-11"),
    ModelSpec(id="gpt-image-1", provider="openai", kind="image", ref="gpt-image-1",
              title="OpenAI gpt-image-1 (medium)", price_basis="per_image",
              prices_usd={"image": 0.042}, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=3,
              reference_input="image", max_concurrency=4, prices_as_of="2026-11"),
    ModelSpec(id="flux-schnell", provider="replicate", kind="image",
              ref="black-forest-labs/flux-schnell", title="FLUX.1 [schnell]",
              price_basis="per_image", prices_usd={"image": 0.003},
              aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=2, max_concurrency=8, prices_as_of="2026-11"),
    # Kontext takes an optional `input_image` (URI or data URI) it keeps the subject of, so
    # the look's product photo makes every scene's product the same one.
    ModelSpec(id="flux-kontext-pro", provider="replicate", kind="image",
              ref="black-forest-labs/flux-kontext-pro", title="FLUX.1 Kontext [pro]",
              price_basis="per_image", prices_usd={"image": 0.04},
              aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=3, reference_input="input_image", max_concurrency=6,
              prices_as_of="2026-11"),
    ModelSpec(id="wan-2.5-i2v-fast", provider="replicate", kind="video",
              ref="wan-video/wan-2.5-i2v-fast", title="Wan 2.5 image-to-video (fast)",
              price_basis="per_second", prices_usd={"720p": 0.068, "1080p": 0.102},
              durations_s=(5.0, 10.0), aspects=("16:9", "9:16", "1:1"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=2, audio=True,
              max_concurrency=6, prices_as_of="2026-11"),
    ModelSpec(id="kling-v2.1", provider="replicate", kind="video", ref="kwaivgi/kling-v2.1",
              title="Kling 2.1 image-to-video", price_basis="per_second",
              prices_usd={"720p": 0.05, "1080p": 0.09}, durations_s=(5.0, 10.0),
              aspects=("16:9", "9:16", "1:1"), resolutions={"720p": "standard", "1080p": "pro"},
              quality_tier=2, max_concurrency=4, prices_as_of="2026-11"),
    ModelSpec(id="veo-3-fast", provider="replicate", kind="video", ref="google/veo-3-fast",
              title="Veo 3 Fast (with audio)", price_basis="per_second",
              prices_usd={"720p": 0.40, "1080p": 0.40}, durations_s=(8.0,),
              aspects=("16:9", "9:16"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=3, audio=True, max_concurrency=3, prices_as_of="2026-11"),
    ModelSpec(id="hailuo-02", provider="replicate", kind="video", ref="minimax/hailuo-02",
              title="Hailuo 02 image-to-video", price_basis="per_second",
              prices_usd={"720p": 0.045, "1080p": 0.08}, durations_s=(6.0, 10.0),
              aspects=("16:9", "9:16", "1:1"), resolutions={"720p": "768p", "1080p": "1080p"},
              quality_tier=2, max_concurrency=4, prices_as_of="2026-11"),
    # Speech. tts-1 bills input characters, so its cost is exact. gpt-4o-mini-tts bills text
    # tokens in ($0.60/M) and audio tokens out ($12/M), but the speech endpoint reports no
    # usage, so we price it by OpenAI's own published estimate per minute of audio made
    # ($0.015/min) from the length of the audio we got back. Both are scheduled by OpenAI
    # to shut down on 2027-01-06 (SDK docstrings); a successor is one more entry here.
    ModelSpec(id="espeak-ng", provider="local", kind="audio", ref="espeak-ng",
              title="Offline voice (espeak-ng, from the system)", price_basis="free",
              max_concurrency=4),
    ModelSpec(id="tts-1", provider="openai", kind="audio", ref="tts-1",
              title="OpenAI TTS-1", price_basis="per_character", prices_usd={"mchar": 15.0},
              quality_tier=2, max_concurrency=4, prices_as_of="2026-11"),
    ModelSpec(id="tts-1-hd", provider="openai", kind="audio", ref="tts-1-hd",
              title="OpenAI TTS-1 HD", price_basis="per_character", prices_usd={"mchar": 30.0},
              quality_tier=3, max_concurrency=4, prices_as_of="2026-11"),
    ModelSpec(id="gpt-4o-mini-tts", provider="openai", kind="audio", ref="gpt-4o-mini-tts",
              title="OpenAI GPT-4o mini TTS (steerable)", price_basis="per_audio_minute",
              prices_usd={"minute": 0.015}, quality_tier=3, max_concurrency=4,
              prices_as_of="2026-11"),
):
    register(_spec)


def get_model(model_id: str) -> ModelSpec:
    try:
        return _CATALOG[model_id]
    except KeyError:
        raise InvalidInput(
            f"model {quote(model_id)} is not in the catalog; known models: {', '.join(_CATALOG)}"
        ) from None


def models(kind: str | None = None, provider: str | None = None) -> list[ModelSpec]:
    return [m for m in _CATALOG.values()
            if (kind is None or m.kind == kind) and (provider is None or m.provider == provider)]


def generated_duration(spec: ModelSpec, seconds: float) -> float:
    """The clip length the model will actually make for a scene of `seconds`.

    The next allowed duration at or above the scene (the extra is trimmed on the timeline);
    a scene longer than the model's longest clip is refused by the caller's limits.
    """
    if spec.durations_s:
        fitting = [d for d in sorted(spec.durations_s) if d >= seconds - 1e-9]
        return fitting[0] if fitting else max(spec.durations_s)
    if spec.max_duration_s:
        return min(max(seconds, spec.min_duration_s), spec.max_duration_s)
    return seconds


def price(spec: ModelSpec, *, resolution: str = "720p", seconds: float = 0.0, images: int = 1,
          input_tokens: int = 0, output_tokens: int = 0, characters: int = 0) -> Usage:
    """What one call costs under the model's price basis, in the unit it is quoted in.

    `seconds` is a clip's length for video and the audio's length for speech; `characters`
    is the length of the text a speech model read.
    """
    basis = spec.price_basis
    if basis == "free":
        timed = spec.kind in ("video", "audio")
        units, unit = (seconds, "second") if timed else (float(images), spec.kind)
        return Usage(units=units, unit=unit)
    if basis == "per_character":
        p = spec.prices_usd["mchar"]
        return Usage(units=characters, unit="character", unit_price_usd=p / 1e6,
                     cost_usd=characters * p / 1e6)
    if basis == "per_audio_minute":
        p = spec.prices_usd["minute"]
        return Usage(units=seconds / 60, unit="minute", unit_price_usd=p,
                     cost_usd=seconds / 60 * p)
    if basis == "per_token":
        pin, pout = spec.prices_usd["input_mtok"], spec.prices_usd["output_mtok"]
        cost = (input_tokens * pin + output_tokens * pout) / 1e6
        return Usage(units=input_tokens + output_tokens, unit="token",
                     unit_price_usd=(pin + pout) / 2e6, cost_usd=cost)
    if basis == "per_image":
        p = spec.prices_usd["image"]
        return Usage(units=images, unit="image", unit_price_usd=p, cost_usd=images * p)
    p = spec.prices_usd.get(resolution)
    if p is None:
        raise InvalidInput(f"{spec.id} has no price at {resolution}; it makes "
                           f"{', '.join(spec.prices_usd)}")
    if basis == "per_clip":
        return Usage(units=1, unit="clip", unit_price_usd=p, cost_usd=p)
    return Usage(units=seconds, unit="second", unit_price_usd=p,
                 cost_usd=math.fsum([seconds * p]))


def catalog_table() -> pd.DataFrame:
    """Every model with its capabilities and prices, one row each."""
    rows = []
    for m in _CATALOG.values():
        rows.append({
            "model": m.id, "provider": m.provider, "kind": m.kind, "ref": m.ref,
            "title": m.title, "price_basis": m.price_basis,
            "prices_usd": ", ".join(f"{k}: {v:g}" for k, v in m.prices_usd.items()) or "0",
            "durations_s": ", ".join(f"{d:g}" for d in m.durations_s)
            or (f"{m.min_duration_s:g}-{m.max_duration_s:g}" if m.max_duration_s else ""),
            "aspects": ", ".join(m.aspects), "resolutions": ", ".join(m.resolutions),
            "quality_tier": m.quality_tier, "audio": m.audio,
            "max_concurrency": m.max_concurrency, "prices_as_of": m.prices_as_of,
        })
    return pd.DataFrame(rows)
