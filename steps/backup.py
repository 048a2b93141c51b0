"""Modeled backup: the worst-case data loss of a backup schedule against a promised RPO
(archconform.model.backup)."""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d
from archconform.errors import PromiseBroken
from archconform.manifests import ref as ref_of

from ._vocabulary import SystemUnderTest, attach_text, phrase


def _backup():
    from archconform.model import backup

    return backup


@then(phrase('the backup schedule of the CronJob "{ref}" keeps data loss within {duration}'))
def _(sut: SystemUnderTest, ref: str, duration: str) -> None:
    cron = d.find(sut.manifests, "CronJob", ref)
    verdict = _backup().rpo_verdict(cron, d.parse_duration(duration))
    attach_text(f"backup schedule of {ref} vs RPO {duration} (model)", verdict.explanation)
    if not verdict.ok:
        raise PromiseBroken(f"promised the backups of {ref_of(cron)} keep data loss within {duration}; "
                            f"the model says:\n{verdict.explanation}")
