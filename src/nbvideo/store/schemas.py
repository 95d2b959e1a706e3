"""Provider input schemas a project's paid calls were checked against, kept in its folder.

`schemas/<owner>--<name>@<version>.json`, one file per model version, written atomically. Kept
in the project rather than a user-wide cache because they are evidence of what a paid call
was checked against (a project copied to another machine carries them, and they are there to
check against when the vendor's models endpoint cannot be reached). A version id is a
content hash, so a file never needs rewriting: once written it is only read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nbvideo.store.folder import atomic_write_bytes

SCHEMA_DIR = "schemas"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _name(model: str, version: str) -> str:
    return f"{_SAFE.sub('_', model.replace('/', '--'))}@{_SAFE.sub('_', version)}.json"


class ProjectSchemas:
    """A SchemaBook (providers.replicate_schema) over a project's schemas/ folder."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / SCHEMA_DIR

    def get(self, model: str, version: str) -> dict[str, Any] | None:
        path = self.dir / _name(model, version)
        return self._read(path)

    def latest(self, model: str) -> dict[str, Any] | None:
        prefix = _name(model, "x").rsplit("@", 1)[0] + "@"
        found = [r for p in sorted(self.dir.glob(f"{prefix}*.json")) if (r := self._read(p))]
        return max(found, key=lambda r: str(r.get("fetched_at", "")), default=None)

    def put(self, model: str, version: str, record: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps(record, indent=2, sort_keys=True).encode()
        atomic_write_bytes(self.dir / _name(model, version), data)

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing or damaged: fetched again rather than trusted
        return raw if isinstance(raw, dict) else None
