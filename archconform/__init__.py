"""archconform: executable conformance checks for Kubernetes architecture documents.

The library holds all logic; the Gherkin steps in steps/ only parse words and call it.
Sub-packages:

- model:    pure functions over manifests (no I/O): what Kubernetes semantics imply.
- kube:     the only code that talks to an API server (official ``kubernetes`` client).
- clusters: cluster providers (kind, k3s, eks, existing, none) behind one interface.
- load:     Locust in a child process, bounded, with parsed stats.
- backup:   the RPO/RTO experiment.
- live:     observed checks built on kube + load (autoscaling, isolation, disruption, ...).
- report:   Allure labels, attachments, environment, categories, sign-off summary.
"""

__version__ = "0.1.0"
