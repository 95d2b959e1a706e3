"""The offline voice: espeak-ng (from the system's packages) read into a 48 kHz WAV.

Why espeak-ng: it is in Debian and Homebrew, needs no model download and no key, and is
deterministic (same text and settings, same samples), so the Binder demo and the tests get
a real voice-over that a cache key can stand for. It sounds robotic; a paid voice is one
`voice_model=` away. espeak-ng is not a Python package, so it can be missing: then speaking
raises VoiceUnavailable saying how to install it (`make demo` and `make test` do).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from nbvideo.media.audio_io import convert_args, run_async, wav_duration
from nbvideo.providers import catalog
from nbvideo.providers.base import SpeechRequest, SpeechResult, VoiceUnavailable
from nbvideo.providers.voices import get_voice

__all__ = ["INSTALL_HINT", "EspeakVoice", "find_espeak"]

INSTALL_HINT = (
    "install it with `sudo apt-get install espeak-ng` (Debian/Ubuntu; `make demo` and "
    "`make test` do this), `brew install espeak-ng` (macOS) or from "
    "https://github.com/espeak-ng/espeak-ng/releases (Windows), or use an OpenAI voice "
    "model such as 'gpt-4o-mini-tts'"
)


def find_espeak() -> str | None:
    """Path of the espeak-ng binary on PATH, or None."""
    return shutil.which("espeak-ng")


class EspeakVoice:
    """VoiceModel over espeak-ng. Cost 0 (logged as seconds of audio made).

    >>> r = await EspeakVoice().speak(SpeechRequest(text="Shop now."), Path("l.wav"))  # doctest: +SKIP
    """

    provider = "local"
    model = "espeak-ng"

    def __init__(self, exe: str | None = None) -> None:
        self.exe = exe
        self.spec = catalog.get_model(self.model)

    def __repr__(self) -> str:
        return f"EspeakVoice(exe={self.exe or find_espeak()!r})"

    def available(self) -> bool:
        return bool(self.exe or find_espeak())

    def _exe(self) -> str:
        exe = self.exe or find_espeak()
        if not exe:
            raise VoiceUnavailable(f"the offline voice needs espeak-ng, which is not installed "
                                   f"(not found on PATH): {INSTALL_HINT}")
        return exe

    def command(self, req: SpeechRequest, wav: Path) -> list[str]:
        """The espeak-ng command for `req`; the text goes on stdin (never parsed as options)."""
        voice = get_voice(req.voice)
        wpm = round(min(450, max(80, voice.espeak_wpm * (req.speed or 1.0))))
        return [self._exe(), "-b", "1", "-v", voice.espeak, "-p", str(voice.espeak_pitch),
                "-s", str(wpm), "-w", str(wav), "--stdin"]

    async def speak(self, req: SpeechRequest, out: Path) -> SpeechResult:
        voice = get_voice(req.voice)
        cmd = self.command(req, Path("raw.wav"))  # fails early if espeak-ng is missing
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        with tempfile.TemporaryDirectory(prefix=".espeak-") as tmp:
            raw = Path(tmp) / "raw.wav"
            cmd[cmd.index("-w") + 1] = str(raw)
            try:
                code, err = await run_async(cmd, req.text.encode("utf-8"))
                if code != 0 or not raw.is_file():
                    raise VoiceUnavailable(f"espeak-ng could not speak with voice "
                                           f"{voice.espeak!r}: {err or f'exit code {code}'}")
                code, err = await run_async(convert_args(raw, part))
                if code != 0:
                    raise VoiceUnavailable(f"ffmpeg could not convert espeak-ng's output: {err}")
                part.replace(out)
            finally:
                part.unlink(missing_ok=True)
        duration = wav_duration(out)
        return SpeechResult(path=out, duration_s=duration, voice=voice.espeak,
                            usage=catalog.price(self.spec, seconds=duration))
