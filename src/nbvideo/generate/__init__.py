"""Phase 3: paid generation. Clips per scene, clip QA, provider health."""
