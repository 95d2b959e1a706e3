"""The smart-export cache bound: least recently used files go first.

Mezzanines and encoded pieces are plain files named by content keys, touched on every use,
so deleting any of them (or the whole folder) only costs a rebuild.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bound_cache", "cache_size"]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.mp4") if p.is_file() and not p.name.startswith(".")]


def cache_size(folder: Path) -> int:
    """Bytes the cache holds."""
    return sum(p.stat().st_size for p in _files(folder)) if folder.is_dir() else 0


def bound_cache(folder: Path, max_bytes: int, keep: set[Path] = frozenset()) -> list[Path]:  # type: ignore[assignment]
    """Delete least recently used files until the cache holds at most `max_bytes`; files
    in `keep` (the export that just ran) stay. Returns what was deleted."""
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    files = sorted(_files(folder), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    size = sum(p.stat().st_size for p in files)
    gone = []
    for p in files:
        if size <= max_bytes:
            break
        if p in keep:
            continue
        size -= p.stat().st_size
        p.unlink(missing_ok=True)
        gone.append(p)
    return gone
