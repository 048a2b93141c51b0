"""archconform-workload: the stand-in service every system under test deploys.

Pure standard library, so the image is a slim Python base plus these files. It serves the
ports and probe paths the architecture documents promise, burns CPU and holds memory on
request (to drive autoscaling), flips its own liveness and readiness (to measure restarts and
endpoint removal), reports who it runs as (to check pod security at runtime), and has probe
subcommands (`connect`, `resolve`, `http`) that the isolation and discovery checks run inside
a pod with `kubectl exec`.

See workload/README.md for the full environment, endpoint and subcommand contract.
"""

__version__ = "0.1.0"
