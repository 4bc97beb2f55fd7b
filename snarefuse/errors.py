"""One exception hierarchy for snarefuse.

Every message names the spec field or file at fault and what would be accepted.
"""

from __future__ import annotations


class SnarefuseError(Exception):
    """Base class of every error snarefuse raises on purpose."""


class SpecError(SnarefuseError, ValueError):
    """A spec (YAML) is invalid. ``field`` is the dotted path of the offending key."""

    def __init__(self, field: str, message: str, source: str | None = None):
        self.field = field
        self.message = message
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {message}" if field else f"{where}{message}")


class BuildError(SnarefuseError):
    """A system cannot be built as specified (geometry impossible, overlaps...)."""


class PlatformError(SnarefuseError):
    """An OpenMM platform cannot be loaded or used."""


class RunError(SnarefuseError):
    """A run cannot start or continue (missing files, locked directory, corrupt checkpoint)."""


class RunDirectoryError(RunError):
    """A build/run directory is malformed: a file missing, unreadable, or inconsistent with the others.
    ``path`` is the file (or directory) at fault; the message starts with it and says what would be accepted."""

    def __init__(self, path: object, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class BlowUpError(RunError):
    """The simulation became non-finite or its energy exploded."""

    def __init__(self, message: str, step: int, particles: list[int] | None = None):
        self.step = step
        self.particles = particles or []
        super().__init__(message)


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGTERM or SIGINT, after its checkpoint and ``run.json`` (status ``interrupted``) were
    written; running it again resumes. A ``KeyboardInterrupt``, as Python raises for SIGINT, for SIGTERM too: no
    ``except Exception`` swallows it, so a script that runs several simulations stops as Ctrl-C would stop it.
    ``result`` is the :class:`snarefuse.runner.RunResult` of the stopped run."""

    def __init__(self, message: str, signum: int, result: object):
        self.signum = signum
        self.result = result
        super().__init__(message)
