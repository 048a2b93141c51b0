"""What marks an object as archconform's own, and the check every deletion goes through.

Every object archconform creates carries two labels: ``app.kubernetes.io/managed-by:
archconform`` and ``archconform.io/run-id: <run id>``. Cleanup deletes an object only when
both are present and the run id is the one being cleaned up; on ``--cluster existing`` this is
what keeps a run away from everything it did not create.
"""

from __future__ import annotations

import re

from archconform.errors import UsageError

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "archconform"
RUN_ID_LABEL = "archconform.io/run-id"

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def check_run_id(run_id: str | None) -> str:
    """The run id if it is usable as a label value; UsageError otherwise."""
    if not run_id or len(run_id) > 63 or not _LABEL_VALUE.match(run_id):
        raise UsageError(f"run id {run_id!r} is not a valid label value (1-63 characters: "
                         f"letters, digits, '-', '_', '.', starting and ending alphanumeric)")
    return run_id


def ownership_labels(run_id: str) -> dict[str, str]:
    """The two labels that make an object this run's own."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_ID_LABEL: check_run_id(run_id)}


def owner_selector(run_id: str) -> str:
    """A label selector matching exactly this run's objects."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_ID_LABEL}={check_run_id(run_id)}"


def labels_of(obj: dict | None) -> dict:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def is_archconforms(obj: dict | None) -> bool:
    """Created by some archconform run (managed-by label present)."""
    return labels_of(obj).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def is_owned(obj: dict | None, run_id: str) -> bool:
    """Carries BOTH ownership labels with this run's id. The guard before any deletion."""
    labels = labels_of(obj)
    return (labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
            and labels.get(RUN_ID_LABEL) == run_id and bool(run_id))
