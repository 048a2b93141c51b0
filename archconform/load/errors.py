"""Why a load run could not give a measurement. One line each, naming what to fix.

These are problems with the run, not verdicts: a target that answers with errors is data
(``LoadResult.failures``); a target nobody answers on, a Locust that crashed, or a shape that
never started any user is an ``ArchconformError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archconform.errors import ArchconformError

if TYPE_CHECKING:
    from archconform.load.results import LoadResult


class LoadError(ArchconformError):
    """Base class for load-run problems. ``result`` holds whatever was measured, if anything."""

    def __init__(self, message: str, *, result: "LoadResult | None" = None):
        super().__init__(message)
        self.result = result


class TargetUnreachable(LoadError):
    """The load target refuses connections (or does not answer at all)."""


class LocustCrashed(LoadError):
    """Locust exited with an error (bad locustfile, bad option, every task raising)."""

    def __init__(self, message: str, *, exit_code: int | None = None,
                 result: "LoadResult | None" = None):
        super().__init__(message, result=result)
        self.exit_code = exit_code


class LoadDidNotStart(LoadError):
    """No request was made within ``Timeouts.load_start`` (a shape that never starts a user)."""


class LoadTimeout(LoadError):
    """Locust did not finish within its hard bound and was killed."""
