"""Audio files at nbvideo's one working format: 48 kHz PCM WAV, read and written as numpy.

Voice lines, music beds and mixes all meet at 48 kHz (the rate video delivery expects), so
no stage resamples twice. Samples in numpy are float32 `(frames, channels)` in [-1, 1].
Writes go to a temp file and are renamed into place, so a reader never sees half a file,
and they are byte-identical for identical samples: the stdlib `wave` module writes no date
or encoder tag, and ffmpeg runs with its bitexact flags. Decoding anything else (MP3, AAC,
a video's soundtrack, a streamed WAV whose header claims 4 GB) goes through the bundled ffmpeg.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import wave
from pathlib import Path

import numpy as np

from nbvideo.media.ffmpeg import FFmpegError, ffmpeg_exe

SAMPLE_RATE = 48_000
"""Every voice line, bed and mix is written at this rate."""

BITEXACT = ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
"""ffmpeg output flags that keep its version and encoder tags out of the file."""

__all__ = ["BITEXACT", "SAMPLE_RATE", "convert_args", "convert_to_wav", "decode", "read_wav",
           "run_async", "wav_duration", "write_wav"]


def _tmp(out: Path) -> Path:
    return out.with_name(out.name + ".part")


def write_wav(out: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write float samples (frames,) or (frames, channels) as 16-bit PCM WAV, atomically.

    Values are clipped to [-1, 1] and rounded (no dither, which would need noise and so
    break byte-identical output for a seed).
    """
    out = Path(out)
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] not in (1, 2):
        raise ValueError(f"samples: expected (frames,) or (frames, 1|2), got {data.shape}")
    pcm = np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(out)
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    tmp.replace(out)
    return out


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples as float32 (frames, channels), rate) of a WAV file.

    16-bit PCM with a true header is read directly; anything else (other sample formats, a
    streamed header that claims more frames than the file holds) is decoded by ffmpeg at the
    header's rate and channel count.
    """
    rate, channels = SAMPLE_RATE, 2
    try:
        with wave.open(str(path), "rb") as w:
            n, channels, rate = w.getnframes(), w.getnchannels(), w.getframerate()
            if w.getsampwidth() == 2:
                raw = w.readframes(n)
                if len(raw) == n * channels * 2:
                    pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels)
                    return pcm.astype(np.float32) / 32768.0, rate
    except (wave.Error, EOFError):
        pass
    return decode(path, rate=rate, channels=channels), rate


def decode(path: str | Path, *, rate: int = SAMPLE_RATE, channels: int = 2,
           start_s: float = 0.0, duration_s: float | None = None) -> np.ndarray:
    """Any audio ffmpeg can read, as float32 (frames, channels) at `rate` (resampled, remixed).

    Raises FFmpegError naming the file when it holds no audio ffmpeg can decode.
    """
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    if start_s:
        args += ["-ss", f"{start_s:.6f}"]
    args += ["-i", str(path), "-map", "0:a:0", "-vn"]
    if duration_s is not None:
        args += ["-t", f"{duration_s:.6f}"]
    args += ["-ac", str(channels), "-ar", str(rate), "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise FFmpegError(proc.returncode, [f"cannot decode audio from {path}", *tail], args[1:])
    return np.frombuffer(proc.stdout, dtype="<f4").reshape(-1, channels).copy()


def convert_args(src: str | Path, out: str | Path, *, rate: int = SAMPLE_RATE,
                 channels: int = 1) -> list[str]:
    """The ffmpeg command `convert_to_wav` runs (for callers that run it themselves, e.g.
    as an asyncio subprocess they can kill)."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
            "-i", str(src), "-map", "0:a:0", "-vn", "-ac", str(channels), "-ar", str(rate),
            "-c:a", "pcm_s16le", *BITEXACT, "-f", "wav", str(out)]


def convert_to_wav(src: str | Path, out: str | Path, *, rate: int = SAMPLE_RATE,
                   channels: int = 1) -> Path:
    """Re-encode any audio file as 16-bit PCM WAV at `rate`/`channels`, atomically.

    Used for provider output (espeak's 22.05 kHz, OpenAI's streamed 24 kHz WAV, MP3) so every
    voice line lands in the working format. The bitexact flags keep same input, same bytes.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(out)
    args = convert_args(src, tmp, rate=rate, channels=channels)
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise FFmpegError(proc.returncode, [f"cannot decode audio from {src}", *tail], args[1:])
    tmp.replace(out)
    return out


def wav_duration(path: str | Path) -> float:
    """Seconds in a PCM WAV with a true header (as `write_wav` and `convert_to_wav` write)."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


async def run_async(cmd: list[str], stdin: bytes | None = None) -> tuple[int, str]:
    """Run a command from a coroutine: (exit code, stderr). If the awaiting task is canceled
    the process is killed and reaped before CancelledError goes on, so nothing keeps writing
    after the caller has cleaned up."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await proc.communicate(stdin)
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
        raise
    return proc.returncode or 0, err.decode("utf-8", "replace").strip()
