"""Tests of archconform.kube against the fake API server, through the official client."""
