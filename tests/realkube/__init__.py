"""A real Kubernetes control plane for archconform's own tests (see fixtures.py)."""
