"""`python -m archconform_workload ...`: the image's entrypoint."""

from __future__ import annotations

import sys

from archconform_workload.cli import main

if __name__ == "__main__":
    sys.exit(main())
