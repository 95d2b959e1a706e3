"""How our requests become Runway's own request bodies, and how Runway's task failures read.

API facts relied on, read in the official runwayml 5.24 SDK (types/image_to_video_create_params
.py, types/text_to_image_create_params.py, types/task_retrieve_response.py) and Runway's pages
(read 2026-12-05):
- POST /v1/image_to_video takes `model`, `promptImage` (an HTTPS URL, a runway:// upload URI
  or a base64 data URI "up to 5MB"), `promptText` ("up to 1000 characters (measured in UTF-16
  code units)"), `ratio` (a pixel size from a per-model list), `duration` (whole seconds) and
  `seed` (SDK docstrings; https://github.com/runwayml/skills skills/rw-api-reference/SKILL.md
  lists the same limits: data URI 5 MB, uploads 200 MB).
- POST /v1/text_to_image takes `model`, `promptText`, `ratio`, `seed` and `referenceImages`
  ([{uri, tag}], tag 3-16 characters, letters/digits/underscores, named in the prompt as
  @tag).
- A FAILED task carries `failure` (human text) and `failureCode`; how to read the code is
  https://docs.dev.runwayml.com/errors/task-failures/ (mapped in `failure_transient`).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from nbvideo.errors import InvalidInput
from nbvideo.media.ffmpeg import open_image
from nbvideo.model.state import ASPECTS, frame_size
from nbvideo.providers.base import ClipRequest, FrameRequest
from nbvideo.providers.catalog import ModelSpec, generated_duration
from nbvideo.providers.replicate_inputs import CAMERA_PHRASES

USD_PER_CREDIT = 0.01
"""Runway API credits are bought at $0.01 each (https://docs.dev.runwayml.com/guides/pricing,
as quoted by https://www.toolcolumn.com/learn/runway-web-credits-vs-api-pricing: "The API
pricing docs sell developer credits at $0.01 per credit"; read 2026-12-05)."""

DATA_URI_MAX = 5_000_000
"""promptImage / referenceImages[].uri as a data URI: "up to 5MB" (SDK docstrings)."""
PROMPT_MAX_UTF16 = 1000

# (our aspect, our resolution) -> Runway's `ratio`, per model. The lists are the SDK's
# Literal types for each model (image_to_video_create_params.Gen4Turbo.ratio, Gen4_5.ratio,
# Veo3_1.ratio, Veo3_1Fast.ratio). Gen-4 makes 720p-class sizes only (1280:720, 720:1280,
# 960:960; 1104:832 and 832:1104 are 4:3 and 3:4, not our 4:5), so it serves 720p projects
# in 16:9, 9:16 and 1:1. Veo 3.1 makes 16:9 and 9:16 at 720p and 1080p.
_GEN4 = {("16:9", "720p"): "1280:720", ("9:16", "720p"): "720:1280",
         ("1:1", "720p"): "960:960"}
_VEO = {("16:9", "720p"): "1280:720", ("9:16", "720p"): "720:1280",
        ("16:9", "1080p"): "1920:1080", ("9:16", "1080p"): "1080:1920"}
VIDEO_RATIOS: dict[str, dict[tuple[str, str], str]] = {
    "gen4_turbo": _GEN4, "gen4.5": _GEN4, "veo3.1": _VEO, "veo3.1_fast": _VEO}
# gen4_image's ratios (text_to_image_create_params.Gen4Image.ratio). There is no 4:5 size:
# a 4:5 frame is made at 3:4 (720:960 / 1080:1440) and cropped to fill, as every frame is.
IMAGE_RATIOS = {("16:9", "720p"): "1280:720", ("9:16", "720p"): "720:1280",
                ("1:1", "720p"): "720:720", ("4:5", "720p"): "720:960",
                ("16:9", "1080p"): "1920:1080", ("9:16", "1080p"): "1080:1920",
                ("1:1", "1080p"): "1080:1080", ("4:5", "1080p"): "1080:1440"}
REFERENCE_TAG = "product"


def aspect_resolution(width: int, height: int) -> tuple[str, str]:
    """Our (aspect, resolution) for a frame size made by `model.state.frame_size`."""
    for aspect in ASPECTS:
        for res in ("720p", "1080p"):
            if frame_size(aspect, res) == (width, height):
                return aspect, res
    raise InvalidInput(f"a {width}x{height} clip is none of our sizes "
                       f"({', '.join(ASPECTS)} at 720p or 1080p)")


def _prompt(text: str, field: str = "promptText") -> str:
    text = " ".join(text.split())
    units = len(text.encode("utf-16-le")) // 2
    if not text:
        raise InvalidInput(f"{field}: Runway needs a non-empty prompt")
    if units > PROMPT_MAX_UTF16:
        raise InvalidInput(f"{field}: the prompt is {units} UTF-16 code units; Runway takes "
                           f"at most {PROMPT_MAX_UTF16}: shorten the scene's visual prompt")
    return text


def _seed(seed: int) -> int:
    return int(seed) % 4_294_967_296  # the API's seed is an unsigned 32-bit integer


def clip_body(spec: ModelSpec, req: ClipRequest, image: str) -> dict[str, Any]:
    """The image_to_video create arguments (SDK keyword names) for one clip.

    `image` is the frame as a data URI (or '<frame>' for cache keys)."""
    ratios = VIDEO_RATIOS.get(spec.id)
    if ratios is None:
        raise InvalidInput(f"no Runway input mapping for {spec.id}")
    if spec.durations_s and req.duration_s > max(spec.durations_s) + 1e-9:
        raise InvalidInput(f"{spec.id} makes clips of at most {max(spec.durations_s):g} s; "
                           f"this scene is {req.duration_s:g} s")
    aspect, res = aspect_resolution(req.width, req.height)
    ratio = ratios.get((aspect, res))
    if ratio is None:
        made = ", ".join(f"{a} at {r}" for a, r in ratios)
        raise InvalidInput(f"{spec.id} makes {made}; not {aspect} at {res}")
    body: dict[str, Any] = {
        "model": spec.ref, "prompt_image": image,
        "prompt_text": _prompt(f"{req.prompt.rstrip(' .')}. {CAMERA_PHRASES[req.camera]}."),
        "ratio": ratio,
        # whole seconds from the model's list: the next one at or above the scene
        "duration": int(generated_duration(spec, req.duration_s)),
        "seed": _seed(req.seed)}
    if spec.id.startswith("veo"):
        # "Whether to generate audio for the video. Audio inclusion affects pricing." (SDK);
        # off: the catalog prices the silent rate, and the mix adds its own sound.
        body["audio"] = spec.audio
    return body


def frame_body(spec: ModelSpec, req: FrameRequest, reference: str | None) -> dict[str, Any]:
    """The text_to_image create arguments for one storyboard frame. With the look's product
    photo (`reference`, a data URI) it goes as a tagged reference image the prompt names."""
    aspect, res = aspect_resolution(req.width, req.height)
    ratio = IMAGE_RATIOS.get((aspect, res))
    if ratio is None:
        raise InvalidInput(f"{spec.id} has no size for {aspect} at {res}")
    prompt = f"{req.visual_prompt}, {req.shot} shot"
    body: dict[str, Any] = {"model": spec.ref, "ratio": ratio, "seed": _seed(req.seed)}
    if reference is not None:
        prompt += f", featuring the product shown in @{REFERENCE_TAG}"
        body["reference_images"] = [{"uri": reference, "tag": REFERENCE_TAG}]
    body["prompt_text"] = _prompt(prompt)
    return body


def image_data_uri(path: Path, limit: int = DATA_URI_MAX) -> str:
    """An image as a data URI under Runway's 5 MB: a PNG as is when it fits, else JPEG.

    Our frames are at most 1920x1080, whose JPEG is far under the limit; an image that
    still does not fit (a huge product photo) is refused by name rather than sent to fail."""
    data = Path(path).read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    if data.startswith(b"\x89PNG") and len(uri) <= limit:
        return uri
    with open_image(path, "image") as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=90)
    uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    if len(uri) > limit:
        raise InvalidInput(f"{Path(path).name} is {len(uri):,} bytes as a data URI even as "
                           f"JPEG; Runway takes at most {limit:,}: use a smaller image")
    return uri


# --------------------------------------------------------------------------- task failures

def failure_transient(code: str | None) -> bool:
    """Whether a failed task is worth a new task of the same request.

    https://docs.dev.runwayml.com/errors/task-failures/ (read 2026-12-05):
    - SAFETY.INPUT.* / SAFETY.OUTPUT.*: content moderation; "You should not retry these
      generations" (and repeated moderated requests can get an account suspended:
      https://docs.dev.runwayml.com/api-details/moderation).
    - INPUT_PREPROCESSING.SAFETY.TEXT: the prompt was moderated; "should not retry".
    - INTERNAL.BAD_OUTPUT.*: rejected for quality; "You may retry these generations, but
      they are not likely to succeed": not retried blind, the message says what to change.
    - INPUT_PREPROCESSING.INTERNAL, INTERNAL: a problem on Runway's side: retried.
    - ASSET.INVALID: an input Runway cannot use: fix the input, not retried.
    - THIRD_PARTY.UNAVAILABLE (a partner model is unavailable; the code is used by public
      Runway integrations, e.g. github.com/runwayml/skills) and a missing code: retried.
    Unknown codes are not retried: a new task may cost again for the same answer."""
    if not code:
        return True
    if code in ("INTERNAL", "INPUT_PREPROCESSING.INTERNAL", "THIRD_PARTY.UNAVAILABLE"):
        return True
    return False


def failure_hint(code: str | None) -> str:
    """What the user can do about a failure code (empty: nothing but wait and retry)."""
    code = code or ""
    if code.startswith("SAFETY.INPUT") or code.startswith("INPUT_PREPROCESSING.SAFETY"):
        return ("Runway's moderation refused the input; change the scene's prompt or frame "
                "(not retried: Runway advises against repeating moderated requests)")
    if code.startswith("SAFETY.OUTPUT"):
        return ("Runway's moderation refused the output; change the scene's prompt "
                "(not retried)")
    if code.startswith("INTERNAL.BAD_OUTPUT"):
        return ("Runway rejected the output for quality; text or graphics drawn over the "
                "frame are a common cause: use clean frames, put text on the timeline")
    if code.startswith("ASSET."):
        return "Runway could not use the frame; regenerate it or check its size and format"
    return ""
