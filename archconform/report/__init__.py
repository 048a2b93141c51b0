"""archconform.report: what a release manager signs off from.

Allure labels, links and attachments for every Gherkin scenario, environment and categories of
the run, redaction of everything written, the sign-off summary, and the HTML report.

Public API (steps and live checks use these):

- ``attach_text``, ``attach_html``, ``attach_png``, ``attach_csv``, ``attach_json``: evidence
  attached to the current Allure step; everything but PNG goes through ``redact`` first.
- ``record_verdict(level, verdict, measured=..., promised=..., evidence=[...])``: one cell of the
  sign-off table.
- ``set_environment(**facts)``: cluster facts for environment.properties (the cluster fixture).
- ``redact(text)``, ``redact_obj(obj)``, ``register_secret(value)``, ``RedactingFilter``.

The pytest side is ``archconform.report.pytest_plugin``; the command line is
``python -m archconform.report generate``.
"""

from __future__ import annotations

from .evidence import (VERDICTS, Attachment, attach_csv, attach_html, attach_json, attach_png,
                       attach_text, record_verdict, set_environment)
from .redact import RedactingFilter, redact, redact_obj, register_secret

__all__ = [
    "VERDICTS", "Attachment", "RedactingFilter", "attach_csv", "attach_html", "attach_json",
    "attach_png", "attach_text", "record_verdict", "redact", "redact_obj", "register_secret",
    "set_environment",
]
