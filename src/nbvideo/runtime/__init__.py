"""What every phase stands on: the project context, the money gate, jobs, and the work campaigns share."""
