"""Phase 1-2: what to make. Questions, the storyboard, scene edits, model routing, estimates."""
