"""A pytest plugin for test_smoke_selection: writes what a collection kept, with each item's
document, areas and cost markers, to the file named by ARCHCONFORM_SMOKE_PROBE."""

from __future__ import annotations

import json
import os

from archconform.plugin import SMOKE_COSTS, SMOKE_NEVER, system_of
from archconform.tags import AREA_TAGS


def pytest_collection_finish(session) -> None:
    path = os.environ.get("ARCHCONFORM_SMOKE_PROBE")
    if not path:
        return
    rows = [{"id": item.nodeid, "system": system_of(item),
             "areas": [a for a in AREA_TAGS if item.get_closest_marker(a)],
             "markers": [m for m in ("live", "observed", *SMOKE_COSTS, *SMOKE_NEVER) if item.get_closest_marker(m)]}
            for item in session.items]
    with open(path, "w") as out:
        json.dump(rows, out)
