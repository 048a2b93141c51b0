"""End-to-end: the conformance suite run as a user runs it, against a real control plane."""
