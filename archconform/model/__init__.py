"""The model: what Kubernetes semantics imply about a manifest set, before any cluster exists.

Pure functions over manifests given as plain dicts (a list, or ``archconform.manifests.Manifests``).
No I/O, no subprocess, no network, no ``kubernetes`` import: every rule here is restated from the
upstream documentation or controller source and each test names where it comes from.

Modules:

- quantity:  resource quantities ("250m", "512Mi") as integer millicores and bytes.
- selectors: LabelSelector matching.
- netpol:    NetworkPolicy reachability, DNS egress, from x to matrices (cyclonus style).
- capacity:  ResourceQuota / LimitRange admission and node bin-packing for an HPA maximum.
- hpa:       the HPA replica formula, behavior defaults, fastest scale-up / scale-down paths.
- pdb:       PodDisruptionBudget arithmetic and drain feasibility.
- rollout:   Deployment rolling-update fenceposts and duration estimate.
- backup:    cron schedule worst-case data-loss window, retention and pipeline findings.
- pss:       Pod Security Standards (baseline, restricted) field by field.
- rbac:      an offline RBAC authorizer and least-privilege findings.
"""

from __future__ import annotations
