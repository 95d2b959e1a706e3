"""A recorded voice line the user gives (WAV, MP3, M4A): checked, kept in the project, as 48 kHz.

The file comes in through the project's one import gate (store/imports.py: the path checks,
the size cap, the copy by content, the sniff that it is audio), kept under RECORDED_DIR; here
it is also decoded to the project's working format (48 kHz mono WAV) and refused if it holds
no sound. Nothing already in the project changes when a recording is refused.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from nbvideo.media.audio_io import convert_to_wav, read_wav
from nbvideo.media.ffmpeg import FFmpegError
from nbvideo.runtime.context import Runtime
from nbvideo.store import imports
from nbvideo.store.imports import ImportRule

RECORDING_SUFFIXES = (".wav", ".mp3", ".m4a")
MAX_RECORDING_BYTES = 50 * 1024 * 1024
RECORDED_DIR = "assets/voice/recorded"
SILENT_PEAK = 1e-3  # a recording whose loudest sample is below this holds no speech


def rule() -> ImportRule:
    """What a recording may be (read when called: the cap is this module's)."""
    return ImportRule(field="voice", kind="audio", suffixes=RECORDING_SUFFIXES,
                      max_bytes=MAX_RECORDING_BYTES, dest=RECORDED_DIR, stem="line",
                      hint=f"give a recorded "
                           f"{'/'.join(s[1:].upper() for s in RECORDING_SUFFIXES)} file inside "
                           "the project folder or outside it (it is copied in), or voice='line'")


def take_in(rt: Runtime, given: str | os.PathLike[str]) -> tuple[Path, str, float]:
    """(the recording as a 48 kHz mono WAV in the project, the kept original's project
    path, its seconds). Raises InvalidInput naming `voice` and what is allowed."""
    r = rule()
    rt.require("edit", "import a recorded line")
    with imports.staged(given, rt.store.root, r) as s:
        wav = (rt.store.root / s.rel).with_name(f"{Path(s.rel).stem}.48k.wav")
        fresh = not wav.is_file()  # made before from the same bytes (the name is their hash)
        made = wav.with_name(f".{wav.stem}.{uuid.uuid4().hex[:8]}.part.wav") if fresh else wav
        try:
            try:
                if fresh:
                    convert_to_wav(s.path, made)
                samples, rate = read_wav(made)
            except (FFmpegError, OSError, ValueError) as exc:
                raise imports.refusal(r, s.given, f"is not audio that can be decoded "
                                      f"({type(exc).__name__})") from None
            if not len(samples) or float(np.abs(samples).max()) < SILENT_PEAK:
                raise imports.refusal(r, s.given, "holds no sound")
            kept = imports.keep(s)
            if fresh:
                imports.place(made, wav, sha256=imports.file_sha256(made), rule=r, given=s.given)
        finally:
            if fresh:
                made.unlink(missing_ok=True)
    return wav, kept.rel, len(samples) / rate
