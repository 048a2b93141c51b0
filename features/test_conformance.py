"""Binds every architecture document's feature files (features/<system>/*.feature) to pytest.

The step vocabulary lives in steps/ (loaded by the root conftest.py) and is listed in
docs/steps.md; tags become markers (archconform/tags.py) and known gaps become strict xfails
(features/<system>/GAPS.yaml), both handled by the archconform plugin.
"""

from pathlib import Path

from pytest_bdd import scenarios

from archconform.systems import SYSTEMS

_HERE = Path(__file__).parent

for _system in sorted(SYSTEMS):
    if any((_HERE / _system).glob("*.feature")):
        scenarios(_system)
