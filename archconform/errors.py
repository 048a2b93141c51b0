"""The error hierarchy users see.

Every error a user can cause by bad input or a missing prerequisite is an ``ArchconformError``
whose ``str()`` is one line that says what is wrong and how to fix it. The pytest plugin turns
these into a one-line message without a traceback.

Verdicts are different: a broken promise is an ``AssertionError`` (``PromiseBroken``) so that
pytest reports it as a failed test, and the report can sort it into its Allure category.
"""

from __future__ import annotations


class ArchconformError(Exception):
    """Base class: a problem with the run itself, not a verdict."""


class UsageError(ArchconformError):
    """Bad command-line option, bad feature file, unknown step phrase."""


class PrerequisiteMissing(ArchconformError):
    """A tool or service the chosen cluster kind needs is missing (docker, kind, eksctl, ...)."""


class ClusterError(ArchconformError):
    """A cluster could not be created, reached or deleted."""


class ManifestError(ArchconformError):
    """A manifest is malformed, invalid against the schema, or missing from a system."""


class WaitTimeout(ArchconformError, AssertionError):
    """A named wait ran out of time. The message says what was awaited and the last state seen."""

    def __init__(self, description: str, timeout: float, last_state: object = None):
        self.description = description
        self.timeout = timeout
        self.last_state = last_state
        last = "nothing observed" if last_state is None else str(last_state)
        super().__init__(
            f"timed out after {format_duration(timeout)} waiting for {description}; last state: {last}"
        )


class PromiseBroken(AssertionError):
    """The system under test does not keep a promise of its architecture document."""


class PlatformGap(AssertionError):
    """The cluster platform cannot show the promise (CNI not enforcing NetworkPolicy, no metrics
    pipeline feeding the HPA, no ingress implementation). Reported in its own Allure category."""


def format_duration(seconds: float) -> str:
    """Format seconds the way Kubernetes prints durations: 5m0s, 1m30s, 45s, 1.5s."""
    if seconds < 60:
        return f"{seconds:g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s"
