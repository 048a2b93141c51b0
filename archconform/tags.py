"""Every Gherkin tag the features use, with what it means (the plugin registers them as markers).

Tags cannot contain spaces. ``@gap:<id>`` is not listed here: it is mapped by the plugin to a
strict xfail whose reason comes from ``features/<system>/GAPS.yaml`` (see ``GAP_PREFIX``).
tests/features checks that every tag used in a feature file is listed here or is a gap tag.
"""

from __future__ import annotations

#: Tag prefix of a known-gap id: ``@known_gap @gap:<id>``.
GAP_PREFIX = "gap:"

#: Where a scenario runs.
RUN_TAGS: dict[str, str] = {
    "offline": "runs without a cluster (declared and modeled evidence); a real verdict on --cluster none",
    "live": "needs a live cluster (--cluster kind|kwok|k3s|eks|existing); skipped on --cluster none",
}

#: The evidence level a scenario produces.
EVIDENCE_TAGS: dict[str, str] = {
    "declared": "evidence level: the rendered manifests say it (a field read)",
    "modeled": "evidence level: Kubernetes semantics applied to the manifests imply it",
    "observed": "evidence level: measured on a live cluster",
}

#: What a scenario does to the cluster.
EFFECT_TAGS: dict[str, str] = {
    "destructive": "drains, deletes or breaks something; needs --allow-destructive on --cluster existing",
    "load": "Locust drives load against the system",
    "serial": "disrupts the whole cluster; never runs beside another scenario",
    "slow": "takes more than a few seconds",
    "known_gap": "the design itself breaks this promise (strict xfail, reason from features/<system>/GAPS.yaml)",
}

#: Severity of a broken promise, as the release manager reads it (Allure severities).
SEVERITY_TAGS: dict[str, str] = {
    "blocker": "severity: the system cannot be released with this promise broken",
    "critical": "severity: a core promise (isolation, scaling, availability, data loss)",
    "normal": "severity: an ordinary promise",
    "minor": "severity: a detail of the design",
    "trivial": "severity: cosmetic",
}

#: The area of the architecture a promise belongs to (one .feature per area per document).
AREA_TAGS: dict[str, str] = {
    "namespaces": "area: namespace layout and labels",
    "isolation": "area: NetworkPolicy isolation between namespaces and services",
    "autoscaling": "area: HorizontalPodAutoscaler bounds, targets and dynamics",
    "disruption": "area: PodDisruptionBudgets and node drains",
    "backup": "area: backup schedules, retention, restore within RPO/RTO",
    "disaster_recovery": "area: recovery objectives and recovery procedures",
    "quotas": "area: ResourceQuotas and LimitRanges",
    "resources": "area: container requests and limits",
    "security": "area: pod security standards and security contexts",
    "rbac": "area: Roles, bindings and service account permissions",
    "probes": "area: liveness, readiness and startup probes",
    "rollout": "area: deployment strategy, rolling updates and rollbacks",
    "ingress": "area: Ingress routing and TLS",
    "storage": "area: PersistentVolumeClaims, storage classes and StatefulSet volumes",
    "configuration": "area: ConfigMaps, Secrets and their references",
    "observability": "area: metrics endpoints, ServiceMonitors and scrape configuration",
    "discovery": "area: Services and DNS service discovery",
    "gitops": "area: Argo CD applications and sync policy",
    "scheduling": "area: node groups, taints, tolerations and topology spread",
    "lifecycle": "area: creation and cleanup flows",
    "workloads": "area: workload kinds, replicas and images",
}

#: Every tag a feature may carry (besides ``@gap:<id>``).
TAGS: dict[str, str] = {
    **RUN_TAGS, **EVIDENCE_TAGS, **EFFECT_TAGS, **SEVERITY_TAGS, **AREA_TAGS,
}


def is_known_tag(tag: str) -> bool:
    """True for a registered tag or a ``gap:<id>`` tag (without the leading @)."""
    return tag in TAGS or (tag.startswith(GAP_PREFIX) and len(tag) > len(GAP_PREFIX))
