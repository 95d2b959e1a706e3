"""Phase 4: the cut. Timeline, captions, brand overlays, undo and snapshots."""
