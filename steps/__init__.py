"""Gherkin step vocabulary, one module per area (docs/steps.md lists every phrase).

The root conftest.py loads every ``steps/*.py`` module as a pytest plugin. A step parses its
words and calls one library function: ``archconform.declared`` for what the manifests say,
``archconform.model`` for what Kubernetes semantics imply, ``archconform.live`` for what a live
cluster shows.
"""
