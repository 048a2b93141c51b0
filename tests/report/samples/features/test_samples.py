"""Binds every sample feature (the real suite binds features/ from features/test_conformance.py)."""
from pytest_bdd import scenarios

scenarios("csa_hello", "tbyte")
