"""After export: the client review sheet and distribution packages."""
