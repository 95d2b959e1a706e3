"""Phase 5: pictures out. The export engine, finishing, mezzanines, smart render, previews."""
