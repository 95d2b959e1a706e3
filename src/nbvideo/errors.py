"""Errors a user can act on. The CLI prints these without a traceback."""

from __future__ import annotations


class NbvideoError(Exception):
    """Base for every error nbvideo raises on purpose."""


class InvalidInput(NbvideoError, ValueError):
    """A value a user passed is not allowed; the message names the field and what is."""


class ProjectNotFound(NbvideoError, FileNotFoundError):
    pass


class ProjectExists(NbvideoError):
    pass


class ProjectCorrupt(NbvideoError):
    """project.json cannot be read; it is left untouched for the user to inspect."""


class SchemaTooNew(NbvideoError):
    pass


class ProjectLocked(NbvideoError):
    pass


class PhaseNotReady(NbvideoError):
    """A phase was asked for before the one it builds on has run."""


class PathEscape(NbvideoError, ValueError):
    """A path would leave the project folder."""


class RoutingWarning(UserWarning):
    """model="auto" chose differently than its policy alone would, e.g. around a failing model."""
