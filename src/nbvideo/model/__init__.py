"""The bottom layer: pydantic state, schema versions and the ad domain's vocabulary (palettes,
moods, ad structures, aspects). Imports nothing from nbvideo but ``nbvideo.errors``, so every
other package may build on it (enforced by import-linter, see pyproject.toml)."""
