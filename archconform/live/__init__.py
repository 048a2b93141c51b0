"""Observed checks: what is measured on a live cluster (built on archconform.kube and .load)."""
