"""Give the Python process's free heap back to the system before a big render.

glibc keeps memory that Python and Pillow have freed inside its arenas (one per thread that
allocated), resident but unused: after the storyboard's frames, rendered on worker threads,
a kernel holds ~0.25 GB of it. A 4K render counts every byte of the process tree against
its memory budget, so the render gate (render/chunks.py `make_room`) hands that memory back
first with glibc's `malloc_trim`, which releases free pages in every arena. Where there is no
glibc (macOS, musl) this does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Callable

__all__ = ["release_free_heap"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_free_heap() -> bool:
    """Collect garbage, then return the heap's free pages to the system. True when memory
    could be released this way (glibc), False where it cannot (then nothing happened)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    gc.collect()
    trim(0)
    return True
