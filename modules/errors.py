"""The base of errors a user can fix: the CLI prints their message, never a traceback."""


class CnaiError(Exception):
    """A mistake or a condition outside cnai (a failed external command, a stale file) the user can fix."""
