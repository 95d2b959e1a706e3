"""How our requests become each Replicate model's own input fields.

One place per model: which field takes the start image and the resolution, how the camera
move is said in the prompt, which extras (seed, audio, prompt expansion) the model takes.
Every mapping is checked against each model's recorded input schema in the tests
(tests/fixtures/replicate_schemas, with sources) and against the live schema before each
create (replicate_schema.py).
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

from nbvideo.errors import InvalidInput
from nbvideo.media.ffmpeg import open_image
from nbvideo.model.state import ASPECTS
from nbvideo.providers.base import ClipRequest, FrameRequest
from nbvideo.providers.catalog import ModelSpec, generated_duration

DATA_URI_MAX = 1_000_000
# catalog id -> (field that takes the start image, field that takes the resolution)
VIDEO_FIELDS = {"wan-2.5-i2v-fast": ("image", "resolution"), "kling-v2.1": ("start_image", "mode"),
                "veo-3-fast": ("image", "resolution"), "hailuo-02": ("first_frame_image",
                                                                     "resolution")}
CAMERA_PHRASES = {"static": "Static camera", "push-in": "Slow camera push-in",
                  "pull-out": "Slow camera pull-out", "pan-left": "Camera pans left",
                  "pan-right": "Camera pans right", "tilt-up": "Camera tilts up",
                  "tilt-down": "Camera tilts down"}


def _aspect(width: int, height: int) -> str:
    best = min(ASPECTS, key=lambda a: abs(math.log(width / height) - math.log(
        int(a.split(":")[0]) / int(a.split(":")[1]))))
    w, h = (int(x) for x in best.split(":"))
    if abs(width / height - w / h) > 0.02 * w / h:
        raise InvalidInput(f"a {width}x{height} clip matches none of {', '.join(ASPECTS)}")
    return best


def _resolution(spec: ModelSpec, width: int, height: int) -> str:
    """Our resolution key for a size: the smallest the model makes that covers its short side."""
    ranked = sorted(spec.resolutions, key=lambda r: int(r.rstrip("p")))
    return next((r for r in ranked if int(r.rstrip("p")) >= min(width, height)), ranked[-1])


def _check_aspect(spec: ModelSpec, aspect: str) -> str:
    if spec.aspects and aspect not in spec.aspects:
        raise InvalidInput(f"{spec.id} makes {', '.join(spec.aspects)} only, not {aspect}")
    return aspect


def frame_input(spec: ModelSpec, req: FrameRequest) -> dict[str, Any]:
    """An image model's input. flux-schnell: PNG asked for directly, one image, the model's
    fast path. A model that takes a reference image (flux-kontext-pro: `input_image`, a URI
    or data URI) gets the look's product photo, with the aspect still ours, not the photo's."""
    inp: dict[str, Any] = {"prompt": f"{req.visual_prompt}, {req.shot} shot",
                           "aspect_ratio": _check_aspect(spec, req.aspect), "seed": req.seed,
                           "output_format": "png"}
    if spec.reference_input is None:
        inp.update(num_outputs=1, go_fast=True, megapixels="1")
    elif req.reference_image is not None:
        inp[spec.reference_input] = image_data_uri(req.reference_image)
    return inp


def clip_input(spec: ModelSpec, req: ClipRequest, image: str,
               negative_prompt: str = "") -> dict[str, Any]:
    """The model's own input for one clip. `image` is a data URI (or URL) of the frame."""
    if spec.id not in VIDEO_FIELDS:
        raise InvalidInput(f"no Replicate input mapping for {spec.id}")
    if spec.durations_s and req.duration_s > max(spec.durations_s) + 1e-9:
        raise InvalidInput(f"{spec.id} makes clips of at most {max(spec.durations_s):g} s; "
                           f"this scene is {req.duration_s:g} s")
    aspect = _check_aspect(spec, _aspect(req.width, req.height))
    ours = _resolution(spec, req.width, req.height)
    seconds = int(generated_duration(spec, req.duration_s))
    prompt = f"{req.prompt.rstrip(' .')}. {CAMERA_PHRASES[req.camera]}."
    image_field, res_field = VIDEO_FIELDS[spec.id]
    inp: dict[str, Any] = {image_field: image, "prompt": prompt, "duration": seconds,
                           res_field: spec.resolutions[ours]}
    if spec.id == "wan-2.5-i2v-fast":
        # The aspect follows the image. Expansion off so the prompt the user edits is the one
        # used. `audio` is an optional driving-audio file, not a switch, so it is not sent.
        inp.update(seed=req.seed, enable_prompt_expansion=False)
    elif spec.id == "veo-3-fast":
        inp.update(aspect_ratio=aspect, seed=req.seed, generate_audio=spec.audio)
    elif spec.id == "hailuo-02":
        # Neither hailuo-02 nor kling-v2.1 takes a seed. Replicate's page for hailuo-02
        # (versions/c43b610e.../api, recorded in tests/fixtures/replicate_schemas) says
        # "10 seconds is only available for 768p resolution": 1080p is 6 s only.
        if ours == "1080p" and seconds != 6:
            raise InvalidInput("hailuo-02 makes 1080p clips of 6 s only; use 720p for 10 s")
        inp["prompt_optimizer"] = False
    # kling-v2.1: start_image sets the aspect; its aspect_ratio field is for text-to-video.
    if negative_prompt and spec.id != "hailuo-02":
        inp["negative_prompt"] = negative_prompt
    return inp


def image_data_uri(path: Path) -> str:
    """The frame as a data URI: PNG as is when under 1 MB, else re-encoded as JPEG."""
    data = Path(path).read_bytes()
    if len(data) <= DATA_URI_MAX and data.startswith(b"\x89PNG"):
        return "data:image/png;base64," + base64.b64encode(data).decode()
    with open_image(path, "frame") as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def fit_png(src: Path, dst: Path, width: int, height: int) -> None:
    """Crop-to-fill and resize to the frame size the project asked for, saved as PNG."""
    from PIL import Image, ImageOps

    with open_image(src, "image") as im:
        ImageOps.fit(im.convert("RGB"), (width, height), Image.Resampling.LANCZOS).save(dst, "PNG")
