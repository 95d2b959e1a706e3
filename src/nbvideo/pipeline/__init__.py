"""Pipeline phases, the job runner and the export renderer."""
