"""The one base class of every error the core raises for bad input or a bad model, so a caller
(the CLI, the app) can catch them all and show the message, never a traceback."""


class StudioError(Exception):
    """A problem the person using the studio can fix: the message says what and how."""
