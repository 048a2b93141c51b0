"""Modeled backup: the worst-case data loss of a backup schedule against a promised RPO
(archconform.model.backup)."""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d
from archconform.errors import PromiseBroken
from archconform.manifests import ref as ref_of
from archconform.model import backup

from ._vocabulary import SystemUnderTest, attach_text, phrase


@then(phrase('the backup schedule of the CronJob "{ref}" keeps data loss within {duration}'))
def _(sut: SystemUnderTest, ref: str, duration: str) -> None:
    cron = d.find(sut.manifests, "CronJob", ref)
    verdict = backup.rpo_verdict(cron, d.parse_duration(duration))
    attach_text(f"backup schedule of {ref} vs RPO {duration} (model)", verdict.explanation)
    if not verdict.ok:
        raise PromiseBroken(f"promised the backups of {ref_of(cron)} keep data loss within {duration}; "
                            f"the model says:\n{verdict.explanation}")


@then(phrase('the backups of the CronJob "{ref}" are kept for {duration}'))
def _(sut: SystemUnderTest, ref: str, duration: str) -> None:
    cron = d.find(sut.manifests, "CronJob", ref)
    kept = backup.retention(cron, duration)
    attach_text(f"backup retention of {ref} vs {duration} (model)",
                f"mechanism: {kept.mechanism or 'none'}\nkeeps: {kept.keeps}\n" + "\n".join(kept.findings))
    if kept.findings or kept.keeps is None:
        raise PromiseBroken(f"promised the backups of {ref_of(cron)} are kept for {duration}; the model says:\n"
                            + "\n".join(kept.findings or [f"pruning by {kept.mechanism}, kept period not visible"]))


@then(phrase('a failed dump makes the backup job of the CronJob "{ref}" fail'))
def _(sut: SystemUnderTest, ref: str) -> None:
    cron = d.find(sut.manifests, "CronJob", ref)
    findings = backup.pipefail_findings(cron)
    if findings:
        raise PromiseBroken(f"promised every backup of {ref_of(cron)} is a real backup; the model finds a silent failure:\n"
                            + "\n".join(findings))
