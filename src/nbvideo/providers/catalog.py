"""The model catalog: what each model can make, what it costs, how long it lives, and how we
name it.

Prices are list prices in USD, each with the page it was read from and the date it was read
(`price_source`, `price_date`); they are data, so a team can override them (`register`)
without touching provider code. A model the vendor has announced a shutdown for carries the
date and the vendor's recommended successor (`shutdown`, `successor`): providers/lifecycle.py
warns before that date and refuses after it. The input mapping from our request to a
model's own input fields lives with the provider that speaks that vendor's API.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nbvideo.errors import InvalidInput, PriceStale, quote
from nbvideo.providers.base import Usage

PriceBasis = Literal["free", "per_clip", "per_second", "per_image", "per_token",
                     "per_character", "per_audio_minute", "per_credit"]


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Our name for the model, used in p.estimate(model=...).")
    provider: Literal["local", "openai", "replicate", "runway", "elevenlabs", "heygen"]
    kind: Literal["text", "image", "video", "audio", "lipsync"]
    ref: str = Field(description="The vendor's model name, e.g. 'wan-video/wan-2.5-i2v-fast'.")
    title: str
    price_basis: PriceBasis
    prices_usd: dict[str, float] = Field(
        default_factory=dict,
        description="per_second/per_clip: by our resolution ('720p'); per_image: {'image': x}; "
        "per_token: {'input_mtok': x, 'output_mtok': y} (USD per million tokens); "
        "per_character: {'mchar': x} (USD per million input characters); "
        "per_audio_minute: {'minute': x} (USD per minute of audio made); "
        "per_credit: {'credit': x, 'seconds_per_credit': s} (USD per vendor credit, and the "
        "seconds of video one credit buys).",
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
    price_source: str = Field("", description="Where the prices were read (a URL), or why "
                              "there is none to read ('free').")
    price_date: date | None = Field(None, description="When the prices were read there.")
    shutdown: date | None = Field(
        None, description="The vendor's announced shutdown date: calls are refused from "
        "this day on (and warned about in the 60 days before). None: none announced.")
    successor: str | None = Field(
        None, description="The vendor's recommended replacement (a catalog id where we "
        "serve it).")
    lifecycle_source: str = Field("", description="Where the shutdown date was read.")
    presenter: bool = Field(False, description="A presenter model (an avatar says the line): "
                            "used for presenter scenes only, never routed to for b-roll.")

    @model_validator(mode="before")
    @classmethod
    def _prices_as_of(cls, data: object) -> object:
        """Entries written before price dates were real dates said `prices_as_of="2026-11"`;
        they keep working, read as the first of that month."""
        if isinstance(data, dict) and "prices_as_of" in data:
            data = dict(data)
            month = data.pop("prices_as_of")
            if month and data.get("price_date") is None:
                try:
                    data["price_date"] = date.fromisoformat(f"{str(month)[:7]}-01")
                except ValueError:
                    raise ValueError(f"prices_as_of must be a month like '2026-11', got "
                                     f"{quote(str(month))}") from None
        return data


_CATALOG: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add or replace a catalog entry (e.g. a negotiated price)."""
    _CATALOG[spec.id] = spec
    return spec


_TTS_END: dict = {
    "shutdown": date(2027, 1, 6), "successor": "gpt-realtime-2.1-mini",
    "lifecycle_source": "openai 3.60.0 SDK types/audio/speech_model.py; "
                        "https://developers.openai.com/api/docs/guides/text-to-speech (read 2026-12-04)"}
# Sources, read on 2026-12-04 (cited again beside each entry):
_OPENAI_DEPRECATIONS = "https://developers.openai.com/api/docs/deprecations"
_SDK = "openai 3.60.0 SDK docstrings"  # types/image_model.py, audio/speech_model.py, shared/chat_model.py
_READ = date(2026, 12, 4)
# Prices carried over from the catalog of 2026-11 whose page was not recorded then; re-read
# them (nv.catalog() warns once they are 90 days old).
_UNRECORDED = "not recorded (carried over from the 2026-11 catalog)"
_NOV = date(2026, 11, 1)
_FREE = "free (offline)"

for _spec in (
    ModelSpec(id="rule-planner-v1", provider="local", kind="text", ref="rule-planner-v1",
              title="Offline rule-based planner", price_basis="free", max_concurrency=8,
              price_source=_FREE),
    ModelSpec(id="pillow-storyboard", provider="local", kind="image", ref="pillow-storyboard",
              title="Offline storyboard frames (Pillow)", price_basis="free",
              aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
              max_concurrency=8, price_source=_FREE),
    ModelSpec(id="ffmpeg-animatic", provider="local", kind="video", ref="ffmpeg-animatic",
              title="Offline animatic (camera move over the frame)", price_basis="free",
              min_duration_s=1.0, max_duration_s=15.0, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, max_concurrency=2,
              price_source=_FREE),
    # Text. gpt-4o-mini and gpt-4.1 shut down on 2027-01-14: the SDK's ChatModel docstring
    # ("Announced shutdown date: 2027-01-14") and the deprecations page (read 2026-12-04).
    # The replacement OpenAI names for gpt-4o-mini, gpt-4o, gpt-4.1 and gpt-4.1-mini is
    # gpt-6-luna (dev.to/max_bob "OpenAI API deprecations 2026-2027", copied from OpenAI's
    # page; codersera.com/blog/gpt-4o-gpt-4-1-api-shutdown-migration-2026; both read
    # 2026-12-04). One reseller (github.com/orgs/cometapi-dev/discussions/151) names
    # gpt-6.1-sol for gpt-4.1 instead; we name gpt-6-luna, the one we serve and price.
    ModelSpec(id="gpt-4o-mini", provider="openai", kind="text", ref="gpt-4o-mini",
              title="OpenAI GPT-4o mini", price_basis="per_token",
              prices_usd={"input_mtok": 0.15, "output_mtok": 0.60}, quality_tier=2,
              max_concurrency=8, price_source=_UNRECORDED, price_date=_NOV,
              shutdown=date(2027, 1, 14), successor="gpt-6-luna",
              lifecycle_source=f"{_OPENAI_DEPRECATIONS}; {_SDK} (read 2026-12-04)"),
    ModelSpec(id="gpt-4.1", provider="openai", kind="text", ref="gpt-4.1",
              title="OpenAI GPT-4.1", price_basis="per_token",
              prices_usd={"input_mtok": 2.00, "output_mtok": 8.00}, quality_tier=3,
              max_concurrency=8, price_source=_UNRECORDED, price_date=_NOV,
              shutdown=date(2027, 1, 14), successor="gpt-6-luna",
              lifecycle_source=f"{_OPENAI_DEPRECATIONS}; {_SDK} (read 2026-12-04)"),
    # The planner's default from 2026-12-04. $0.10 in / $0.50 out per million tokens:
    # https://vercel.com/ai-gateway/models/openai/gpt-6-luna.md (pass-through list price,
    # pointing at developers.openai.com/api/docs/pricing) and codersera.com (above), read
    # 2026-12-04; OpenAI's own pricing page was not in the sources we could read. A
    # reasoning model: its reasoning tokens bill as output, which usage reports.
    ModelSpec(id="gpt-6-luna", provider="openai", kind="text", ref="gpt-6-luna",
              title="OpenAI GPT-6 Luna", price_basis="per_token",
              prices_usd={"input_mtok": 0.10, "output_mtok": 0.50}, quality_tier=2,
              max_concurrency=8,
              price_source="https://vercel.com/ai-gateway/models/openai/gpt-6-luna.md",
              price_date=_READ),
    # Frames. gpt-image-1 shut down on 2026-10-23 (SDK: types/image_model.py "GPT Image 1 was
    # shut down on October 23, 2026"); gpt-image-1.5 and gpt-image-1-mini on 2026-12-01
    # (deprecations page, notice of 2026-06-02: "Dec 1, 2026 | gpt-image-1.5 ... Recommended
    # replacement gpt-image-2.6-sunburst or gpt-image-2.6-flare"; the SDK 3.60.0 does not yet
    # mark them). The SDK names gpt-image-2.5-sunburst/-flare for gpt-image-1; the page's
    # newer rows name 2.6, which the SDK also lists (and makes its image tool's default):
    # we name gpt-image-2.6-flare. Kept here so a project naming them gets a clear refusal.
    ModelSpec(id="gpt-image-1", provider="openai", kind="image", ref="gpt-image-1",
              title="OpenAI gpt-image-1 (medium; shut down)", price_basis="per_image",
              # medium 1536x1024 billed 1568 output tokens x $40/M = $0.063, above the old
              # $0.042 (community.openai.com/t/.../1371851, read 2026-12-04)
              prices_usd={"image": 0.063}, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=3,
              reference_input="image", max_concurrency=4,
              price_source="https://community.openai.com/t/what-is-the-difference-between-"
              "image-generation-and-output-of-image-tokens/1371851", price_date=_READ,
              shutdown=date(2026, 10, 23), successor="gpt-image-2.6-flare",
              lifecycle_source=f"{_SDK} (types/image_model.py); {_OPENAI_DEPRECATIONS}"),
    ModelSpec(id="gpt-image-1.5", provider="openai", kind="image", ref="gpt-image-1.5",
              title="OpenAI gpt-image-1.5 (medium; shut down)", price_basis="per_image",
              prices_usd={"image": 0.051}, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=3,
              reference_input="image", max_concurrency=4,
              price_source="https://community.openai.com/t/what-is-the-difference-between-"
              "image-generation-and-output-of-image-tokens/1371851", price_date=_READ,
              shutdown=date(2026, 12, 1), successor="gpt-image-2.6-flare",
              lifecycle_source=_OPENAI_DEPRECATIONS + " (read 2026-12-04)"),
    ModelSpec(id="gpt-image-1-mini", provider="openai", kind="image", ref="gpt-image-1-mini",
              title="OpenAI gpt-image-1-mini (medium; shut down)", price_basis="per_image",
              prices_usd={"image": 0.015}, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=2,
              reference_input="image", max_concurrency=4,
              price_source="https://developers.openai.com/de-DE/api/docs/models/gpt-image-1-mini",
              price_date=_READ, shutdown=date(2026, 12, 1), successor="gpt-image-2.6-flare",
              lifecycle_source=_OPENAI_DEPRECATIONS + " (read 2026-12-04)"),
    # Token-billed: $5/M text in, $8/M image in, $30/M image out
    # (https://developers.openai.com/de-DE/api/docs/models/gpt-image-2.6-sunburst, read
    # 2026-12-04; flare has the same rates per docs.laozhang.ai/en/announcements/
    # gpt-image-2-6-2026-11.md). No official per-image table for 2.6 was found, so the price
    # is an upper bound for one medium frame: gpt-image-2 at the same $30/M bills $0.053 for
    # medium 1024x1024 and $0.041 for 1536x1024 (OpenAI's examples as quoted by
    # yingtu.ai/en/blog/gpt-image-2-cost-per-image), plus room for the prompt and a
    # reference image. The reservation can only be too high, never too low.
    ModelSpec(id="gpt-image-2.6-flare", provider="openai", kind="image",
              ref="gpt-image-2.6-flare", title="OpenAI gpt-image-2.6-flare (medium)",
              price_basis="per_image", prices_usd={"image": 0.06},
              aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=3,
              reference_input="image", max_concurrency=4,
              price_source="https://developers.openai.com/de-DE/api/docs/models/"
              "gpt-image-2.6-sunburst (token rates; per-image upper bound, see catalog.py)",
              price_date=_READ),
    ModelSpec(id="flux-schnell", provider="replicate", kind="image",
              ref="black-forest-labs/flux-schnell", title="FLUX.1 [schnell]",
              price_basis="per_image", prices_usd={"image": 0.003},
              aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=2, max_concurrency=8, price_source=_UNRECORDED, price_date=_NOV),
    # Kontext takes an optional `input_image` (URI or data URI) it keeps the subject of, so
    # the look's product photo makes every scene's product the same one.
    ModelSpec(id="flux-kontext-pro", provider="replicate", kind="image",
              ref="black-forest-labs/flux-kontext-pro", title="FLUX.1 Kontext [pro]",
              price_basis="per_image", prices_usd={"image": 0.04},
              aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=3, reference_input="input_image", max_concurrency=6,
              price_source=_UNRECORDED, price_date=_NOV),
    ModelSpec(id="wan-2.5-i2v-fast", provider="replicate", kind="video",
              ref="wan-video/wan-2.5-i2v-fast", title="Wan 2.5 image-to-video (fast)",
              price_basis="per_second", prices_usd={"720p": 0.068, "1080p": 0.102},
              durations_s=(5.0, 10.0), aspects=("16:9", "9:16", "1:1"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=2, audio=True,
              max_concurrency=6, price_source=_UNRECORDED, price_date=_NOV),
    ModelSpec(id="kling-v2.1", provider="replicate", kind="video", ref="kwaivgi/kling-v2.1",
              title="Kling 2.1 image-to-video", price_basis="per_second",
              prices_usd={"720p": 0.05, "1080p": 0.09}, durations_s=(5.0, 10.0),
              aspects=("16:9", "9:16", "1:1"), resolutions={"720p": "standard", "1080p": "pro"},
              quality_tier=2, max_concurrency=4, price_source=_UNRECORDED, price_date=_NOV),
    # Replicate's own page for google/veo-3-fast was not among the sources we could read on
    # 2026-12-04 or 2026-12-05. Public code calling Replicate's google/veo-3-fast, read
    # 2026-12-05 through the code search (two unrelated code bases: a provider class with
    # `supportedDurations: [4, 6, 8]` and `costPerSecond: 0.15`, and a price table with
    # 'google/veo-3-fast', 'per_second', 0.15; scripts send `"duration": 4`), says it is
    # still served, takes 4, 6 or 8 s, and bills $0.15/s; fal.ai bills the same Google model
    # $0.15/s with audio ($0.10 without). Was (8.0,) at $0.40/s, the launch price kept as
    # an upper bound; the API double's schema already took 4/6/8.
    ModelSpec(id="veo-3-fast", provider="replicate", kind="video", ref="google/veo-3-fast",
              title="Veo 3 Fast (with audio)", price_basis="per_second",
              prices_usd={"720p": 0.15, "1080p": 0.15}, durations_s=(4.0, 6.0, 8.0),
              aspects=("16:9", "9:16"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=3, audio=True, max_concurrency=3,
              price_source="https://fal.ai/models/fal-ai/veo3/fast ($0.15/s with audio) and "
              "public code calling replicate google/veo-3-fast ($0.15/s; durations 4, 6, 8); "
              "replicate.com/google/veo-3-fast itself not readable", price_date=date(2026, 12, 5)),
    ModelSpec(id="hailuo-02", provider="replicate", kind="video", ref="minimax/hailuo-02",
              title="Hailuo 02 image-to-video", price_basis="per_second",
              prices_usd={"720p": 0.045, "1080p": 0.08}, durations_s=(6.0, 10.0),
              aspects=("16:9", "9:16", "1:1"), resolutions={"720p": "768p", "1080p": "1080p"},
              quality_tier=2, max_concurrency=4, price_source=_UNRECORDED, price_date=_NOV),
    # Speech. tts-1 bills input characters, so its cost is exact. gpt-4o-mini-tts bills text
    # tokens in ($0.60/M) and audio tokens out ($12/M), but the speech endpoint reports no
    # usage, so we price it by OpenAI's own published estimate per minute of audio made
    # ($0.015/min) from the length of the audio we got back.
    # All three shut down on 2027-01-06 (SDK audio/speech_model.py: "Announced shutdown date:
    # 2027-01-06"). OpenAI's replacement is gpt-realtime-2.1-mini through the Realtime API,
    # which "isn't a supported model for /v1/audio/speech"
    # (https://developers.openai.com/api/docs/guides/text-to-speech, read 2026-12-04): there
    # is no successor on the speech endpoint we speak, so the default cannot move to one;
    # the lifecycle warns until then and refuses after, naming the offline voice.
    ModelSpec(id="espeak-ng", provider="local", kind="audio", ref="espeak-ng",
              title="Offline voice (espeak-ng, from the system)", price_basis="free",
              max_concurrency=4, price_source=_FREE),
    ModelSpec(id="tts-1", provider="openai", kind="audio", ref="tts-1",
              title="OpenAI TTS-1", price_basis="per_character", prices_usd={"mchar": 15.0},
              quality_tier=2, max_concurrency=4,
              price_source="https://vercel.com/ai-gateway/models/tts-1.md", price_date=_READ,
              **_TTS_END),
    ModelSpec(id="tts-1-hd", provider="openai", kind="audio", ref="tts-1-hd",
              title="OpenAI TTS-1 HD", price_basis="per_character", prices_usd={"mchar": 30.0},
              quality_tier=3, max_concurrency=4,
              price_source="https://vercel.com/ai-gateway/models/tts-1-hd.md", price_date=_READ,
              **_TTS_END),
    ModelSpec(id="gpt-4o-mini-tts", provider="openai", kind="audio", ref="gpt-4o-mini-tts",
              title="OpenAI GPT-4o mini TTS (steerable)", price_basis="per_audio_minute",
              prices_usd={"minute": 0.015}, quality_tier=3, max_concurrency=4,
              price_source=_UNRECORDED, price_date=_NOV, **_TTS_END),
):
    register(_spec)

# Runway (providers/runway.py). Runway bills credits at $0.01 each; credits per second of
# video, per image: Runway's own API reference (github.com/runwayml/skills,
# skills/rw-api-reference/SKILL.md: gen4.5 12/s, gen4_turbo 5/s, veo3.1 20-40/s, veo3.1_fast
# 10-15/s, gen4_image 5 at 720p and 8 at 1080p; read 2026-12-05). The Veo ranges are without
# and with audio ("Audio inclusion affects pricing", runwayml 5.24 SDK): we ask for no audio
# and price the lower rate. docs.dev.runwayml.com/guides/pricing itself was not among the
# pages we could read. Durations are the SDK's: gen4 takes whole seconds 2-10 (Gen4_5
# "Must be an integer from 2 to 10"), Veo 3.1 4, 6 or 8. max_concurrency 2: a new API
# organisation runs 1-2 tasks at once (tier 1); more are THROTTLED, queued, not refused.
_RUNWAY_PRICES = "https://github.com/runwayml/skills/blob/main/skills/rw-api-reference/SKILL.md"
_RUNWAY_READ = date(2026, 12, 5)
_GEN4_SECONDS = tuple(float(s) for s in range(2, 11))
for _spec in (
    ModelSpec(id="gen4_turbo", provider="runway", kind="video", ref="gen4_turbo",
              title="Runway Gen-4 Turbo image-to-video", price_basis="per_second",
              prices_usd={"720p": 0.05}, durations_s=_GEN4_SECONDS,
              aspects=("16:9", "9:16", "1:1"), resolutions={"720p": "720p"}, quality_tier=2,
              max_concurrency=2, price_source=_RUNWAY_PRICES, price_date=_RUNWAY_READ),
    ModelSpec(id="gen4.5", provider="runway", kind="video", ref="gen4.5",
              title="Runway Gen-4.5 image-to-video", price_basis="per_second",
              prices_usd={"720p": 0.12}, durations_s=_GEN4_SECONDS,
              aspects=("16:9", "9:16", "1:1"), resolutions={"720p": "720p"}, quality_tier=3,
              max_concurrency=2, price_source=_RUNWAY_PRICES, price_date=_RUNWAY_READ),
    ModelSpec(id="veo3.1", provider="runway", kind="video", ref="veo3.1",
              title="Veo 3.1 on Runway (no audio)", price_basis="per_second",
              prices_usd={"720p": 0.20, "1080p": 0.20}, durations_s=(4.0, 6.0, 8.0),
              aspects=("16:9", "9:16"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=3, max_concurrency=2, price_source=_RUNWAY_PRICES,
              price_date=_RUNWAY_READ),
    ModelSpec(id="veo3.1_fast", provider="runway", kind="video", ref="veo3.1_fast",
              title="Veo 3.1 Fast on Runway (no audio)", price_basis="per_second",
              prices_usd={"720p": 0.10, "1080p": 0.10}, durations_s=(4.0, 6.0, 8.0),
              aspects=("16:9", "9:16"), resolutions={"720p": "720p", "1080p": "1080p"},
              quality_tier=2, max_concurrency=2, price_source=_RUNWAY_PRICES,
              price_date=_RUNWAY_READ),
    # 5 credits at 720p, 8 at 1080p: one price per image, so the reservation is the 1080p
    # one (never too low); the ledger records what the task reports it cost (cost.credits).
    ModelSpec(id="gen4_image", provider="runway", kind="image", ref="gen4_image",
              title="Runway Gen-4 Image", price_basis="per_image", prices_usd={"image": 0.08},
              aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=3,
              reference_input="referenceImages", max_concurrency=2,
              price_source=_RUNWAY_PRICES + " (1080p rate)", price_date=_RUNWAY_READ),
):
    register(_spec)


# ElevenLabs voices (providers/elevenlabs.py). ElevenLabs bills text to speech in credits per
# character of text: Multilingual v2 and v3 1 credit, Flash v2.5 0.5 (help.elevenlabs.io
# "How are credits consumed?"). The dollar price of a credit depends on the plan; these entries
# assume the Creator plan's usage-based rate, $0.30 per 1,000 credits (help.elevenlabs.io
# "What is the price for usage based billing?": Creator $0.30, Pro $0.24, Scale $0.18,
# Business $0.12 per 1,000 credits), i.e. what one more line costs once the plan's included
# credits are spent. A team on another plan register()s its own rate (docs/providers.md).
# No shutdown announced for any of them (elevenlabs.io/docs/overview/models lists all three
# as current, read 2026-12-05; the Turbo models it no longer lists are left out).
_ELEVEN_PRICE = ("help.elevenlabs.io: 'What is the price for usage based billing?' (Creator "
                 "plan, $0.30 per 1,000 credits) and 'How are credits consumed?' (credits per "
                 "character by model), read 2026-12-05")
_ELEVEN_READ = date(2026, 12, 5)
_ELEVEN_MODELS = "https://elevenlabs.io/docs/overview/models (read 2026-12-05): none announced"
for _spec in (
    ModelSpec(id="eleven-multilingual-v2", provider="elevenlabs", kind="audio",
              ref="eleven_multilingual_v2", title="ElevenLabs Multilingual v2 (word timings)",
              price_basis="per_character", prices_usd={"mchar": 300.0}, quality_tier=3,
              max_concurrency=4, price_source=_ELEVEN_PRICE, price_date=_ELEVEN_READ,
              lifecycle_source=_ELEVEN_MODELS),
    ModelSpec(id="eleven-v3", provider="elevenlabs", kind="audio", ref="eleven_v3",
              title="ElevenLabs v3 (expressive, word timings)", price_basis="per_character",
              prices_usd={"mchar": 300.0}, quality_tier=3, max_concurrency=4,
              price_source=_ELEVEN_PRICE, price_date=_ELEVEN_READ,
              lifecycle_source=_ELEVEN_MODELS),
    ModelSpec(id="eleven-flash-v2.5", provider="elevenlabs", kind="audio",
              ref="eleven_flash_v2_5", title="ElevenLabs Flash v2.5 (fast, word timings)",
              price_basis="per_character", prices_usd={"mchar": 150.0}, quality_tier=2,
              max_concurrency=4, price_source=_ELEVEN_PRICE, price_date=_ELEVEN_READ,
              lifecycle_source=_ELEVEN_MODELS),
):
    register(_spec)

# Lip sync: a clip of a person plus a voice line -> the same clip speaking it.
# sync/lipsync-2 on Replicate: input schema read from its API page
# (replicate.com/sync/lipsync-2/versions/0f054fe9.../api, read 2026-12-05; kept as
# tests/fixtures/replicate_schemas/lipsync-2.json). Replicate's own price line for it was not
# among the pages we could read; sync. bills "per output frame ... $0.04 - $0.05/sec (at 25
# fps)" for lipsync-2 (sync.so/docs/product/billing.mdx, read 2026-12-05). We charge the
# upper $0.05 per second of output so a reservation is never short; the resolution does not
# change the rate.
_LIPSYNC_PRICE = ("https://sync.so/docs/product/billing.mdx (lipsync-2: $0.04-$0.05/s at 25 "
                  "fps, upper bound used; Replicate's page gave no price line), read 2026-12-05")
for _spec in (
    ModelSpec(id="lipsync-2", provider="replicate", kind="lipsync", ref="sync/lipsync-2",
              title="sync. lipsync-2 (lip-sync a clip to a voice line)", price_basis="per_second",
              prices_usd={"720p": 0.05, "1080p": 0.05}, max_duration_s=60.0,
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=3, audio=True,
              max_concurrency=2, price_source=_LIPSYNC_PRICE, price_date=date(2026, 12, 5)),
    ModelSpec(id="local-lipsync", provider="local", kind="lipsync", ref="local-lipsync",
              title="Offline lip sync (mouth drawn from the line's loudness; local animatics "
              "of a figure only)", price_basis="free", max_duration_s=60.0,
              resolutions={"720p": "720p", "1080p": "1080p"}, audio=True, max_concurrency=2,
              price_source=_FREE),
):
    register(_spec)


# Presenter models: an avatar says a presenter scene's voice line (see generate/presenter.py).
# They are video models marked `presenter`, so routing never sends b-roll to them.
# HeyGen retired its v1/v2 API on 2026-11-01 (https://developers.heygen.com/endpoint-version-
# comparison); v3's POST /v3/videos renders with Avatar IV by default and bills the API key's
# USD wallet per second of output: "Video Generation - Avatar IV ... 720p / 1080p: Photo Avatar
# $0.05 / sec, Digital Twin $0.0667 / sec, Studio Avatar $0.0667 / sec"
# (https://developers.heygen.com/docs/pricing, read 2026-12-05; an older copy of that page
# listed every Avatar IV type at $0.10/s, the newer ones agree on these). The v2 figures (a
# credit per 2 or 5 minutes of Avatar III footage) no longer apply: Avatar III is not offered
# on v3. `heygen-avatar` is a studio avatar or digital twin look, `heygen-talking-photo` a
# photo avatar look (v2's talking photo); both are POST /v3/videos type "avatar" and carry an
# Idempotency-Key (providers/heygen.py), which the vendor id column says.
_HEYGEN_PRICES = "https://developers.heygen.com/docs/pricing (USD per second, Avatar IV, " \
    "API key wallet)"
_HEYGEN_READ = date(2026, 12, 5)
for _spec in (
    ModelSpec(id="local-presenter", provider="local", kind="video", ref="local-presenter",
              title="Offline presenter (drawn, lip-synced to the offline voice)",
              price_basis="free", min_duration_s=1.0, max_duration_s=15.0,
              aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, audio=True, max_concurrency=2,
              price_source=_FREE, presenter=True),
    ModelSpec(id="heygen-avatar", provider="heygen", kind="video",
              ref="POST /v3/videos avatar, Idempotency-Key",
              title="HeyGen avatar presenter (v3 videos, Avatar IV studio avatar or digital twin)",
              price_basis="per_second", prices_usd={"720p": 0.0667, "1080p": 0.0667},
              min_duration_s=1.0, max_duration_s=15.0, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=3, audio=True,
              max_concurrency=3, price_source=_HEYGEN_PRICES, price_date=_HEYGEN_READ,
              presenter=True),
    ModelSpec(id="heygen-talking-photo", provider="heygen", kind="video",
              ref="POST /v3/videos photo avatar, Idempotency-Key",
              title="HeyGen talking photo presenter (v3 videos, Avatar IV photo avatar)",
              price_basis="per_second", prices_usd={"720p": 0.05, "1080p": 0.05},
              min_duration_s=1.0, max_duration_s=15.0, aspects=("16:9", "9:16", "1:1", "4:5"),
              resolutions={"720p": "720p", "1080p": "1080p"}, quality_tier=2, audio=True,
              max_concurrency=3, price_source=_HEYGEN_PRICES, price_date=_HEYGEN_READ,
              presenter=True),
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
        timed = spec.kind in ("video", "audio", "lipsync")
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
    if basis == "per_credit":  # e.g. HeyGen: credits per minutes of video, dollars per credit
        per, secs = spec.prices_usd["credit"], spec.prices_usd["seconds_per_credit"]
        credits = seconds / secs
        return Usage(units=credits, unit="credit", unit_price_usd=per,
                     cost_usd=math.fsum([credits * per]))
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


# ------------------------------------------------------------------ lifecycle clock and states
# (providers/lifecycle.py acts on them: warns, refuses)

WARN_DAYS = 60
"""A chosen model with fewer days than this left before its shutdown is warned about."""


def _real_today() -> date:
    return datetime.now(UTC).date()


_clock: Callable[[], date] = _real_today


def today() -> date:
    """The day lifecycles are counted from: the real UTC date unless a clock is set."""
    return _clock()


def set_clock(fn: Callable[[], date] | None) -> None:
    """Count lifecycles from `fn()` instead of the real date (None: the real date again)."""
    global _clock
    _clock = fn or _real_today


@contextmanager
def frozen(day: date) -> Iterator[None]:
    """Within this block, `today()` is `day` (tests; a what-if for a future date)."""
    before = _clock
    set_clock(lambda: day)
    try:
        yield
    finally:
        set_clock(before)


def status(spec: ModelSpec, day: date | None = None) -> str:
    """'active', 'retiring' (under 60 days left), or 'retired' (shut down)."""
    if spec.shutdown is None:
        return "active"
    left = (spec.shutdown - (day or today())).days
    return "retired" if left <= 0 else "retiring" if left < WARN_DAYS else "active"


STALE_PRICE_DAYS = 90
"""A price read longer ago than this is flagged by `catalog_table` (a `PriceStale` warning)."""


def catalog_table(today: date | None = None) -> pd.DataFrame:
    """Every model with its capabilities, prices (with their source and date) and lifecycle,
    one row each. Warns (`PriceStale`) when a paid model's price is older than 90 days.

    `today` is the day to count from (default: the lifecycle clock, i.e. the real date).
    """
    day = today or _clock()
    rows, stale = [], []
    for m in _CATALOG.values():
        age = (day - m.price_date).days if m.price_date else None
        if m.price_basis != "free" and (age is None or age > STALE_PRICE_DAYS):
            stale.append(m.id)
        rows.append({
            "model": m.id, "provider": m.provider, "kind": m.kind, "ref": m.ref,
            "title": m.title, "price_basis": m.price_basis,
            "prices_usd": ", ".join(f"{k}: {v:g}" for k, v in m.prices_usd.items()) or "0",
            "durations_s": ", ".join(f"{d:g}" for d in m.durations_s)
            or (f"{m.min_duration_s:g}-{m.max_duration_s:g}" if m.max_duration_s else ""),
            "aspects": ", ".join(m.aspects), "resolutions": ", ".join(m.resolutions),
            "quality_tier": m.quality_tier, "audio": m.audio,
            "max_concurrency": m.max_concurrency,
            "price_source": m.price_source, "price_date": m.price_date,
            # the month column notebooks written before price_date still select
            "prices_as_of": m.price_date.strftime("%Y-%m") if m.price_date else "",
            "status": status(m, day), "shutdown": m.shutdown,
            "days_left": (m.shutdown - day).days if m.shutdown else None,
            "successor": m.successor or "",
            "presenter": m.presenter,
        })
    if stale:
        warnings.warn(
            f"prices older than {STALE_PRICE_DAYS} days (or undated): {', '.join(stale)}; check "
            f"them against the vendor's page (price_source) and register() a corrected entry",
            PriceStale, stacklevel=2)
    return pd.DataFrame(rows)
