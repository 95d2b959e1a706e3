"""The project folder on disk: atomic writes, the lock and revision check, schema migrations
(``folder``), the spend ledger, the edit history, and paths confined to a folder. Imports only
``nbvideo.model`` and ``nbvideo.errors`` (enforced by import-linter, see pyproject.toml)."""
