"""The verdict of a backup experiment: promised versus observed RPO and RTO, and the schedule.

One object states everything a release manager needs in one message: the promised RPO and RTO,
what was observed (data lost as a duration and as rows; disaster to first successful query), the
worst case the backup schedule allows (from the model, passed in), and every reason to fail.
``check()`` raises ``PromiseBroken`` with that message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from ..errors import PromiseBroken, format_duration


def _fmt(value: timedelta | None) -> str:
    return "not promised" if value is None else format_duration(round(value.total_seconds(), 3))


def _promise(name: str, promised: timedelta | None, ok: bool) -> str:
    if promised is None:
        return f"{name} (no number promised)"
    return f"{name} promised {_fmt(promised)} {'met' if ok else 'BROKEN'}"


@dataclass(frozen=True)
class Verdict:
    """Promised and observed RPO/RTO, the schedule's worst case, and the reasons to fail."""

    promised_rpo: timedelta | None
    promised_rto: timedelta | None
    observed_rpo: timedelta                 #: newest stamp written before the disaster − newest restored
    lost_rows: int                          #: committed rows missing after the restore
    observed_rto: timedelta                 #: disaster → first successful query
    backup_duration: timedelta              #: the backup command, start to completion
    worst_case_loss: timedelta | None = None   #: the schedule's worst case (model), if known
    missing_older_rows: tuple[int, ...] = ()   #: seqs older than the newest restored one, missing
    reasons: tuple[str, ...] = field(default=())

    @classmethod
    def judge(cls, *, promised_rpo: timedelta | None, promised_rto: timedelta | None,
              observed_rpo: timedelta, lost_rows: int, observed_rto: timedelta,
              backup_duration: timedelta, worst_case_loss: timedelta | None = None,
              missing_older_rows: tuple[int, ...] = ()) -> "Verdict":
        """Compare and collect the reasons to fail (empty when every promise is kept)."""
        reasons = []
        if promised_rpo is not None and observed_rpo > promised_rpo:
            reasons.append(f"observed data loss {_fmt(observed_rpo)} ({lost_rows} rows) exceeds the "
                           f"promised RPO {_fmt(promised_rpo)}")
        if promised_rto is not None and observed_rto > promised_rto:
            reasons.append(f"observed restore time {_fmt(observed_rto)} exceeds the promised RTO "
                           f"{_fmt(promised_rto)}")
        if promised_rpo is not None and worst_case_loss is not None:
            schedule_worst = worst_case_loss + backup_duration
            if schedule_worst > promised_rpo:
                reasons.append(
                    f"the backup schedule can lose up to {_fmt(schedule_worst)} (its worst case "
                    f"{_fmt(worst_case_loss)} plus the measured backup time {_fmt(backup_duration)}), "
                    f"more than the promised RPO {_fmt(promised_rpo)}")
        if missing_older_rows:
            shown = ", ".join(str(s) for s in missing_older_rows[:10])
            more = f" and {len(missing_older_rows) - 10} more" if len(missing_older_rows) > 10 else ""
            reasons.append(f"{len(missing_older_rows)} rows older than the newest restored row are "
                           f"missing (seq {shown}{more})")
        return cls(promised_rpo, promised_rto, observed_rpo, lost_rows, observed_rto, backup_duration,
                   worst_case_loss, tuple(missing_older_rows), tuple(reasons))

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def schedule_worst_case(self) -> timedelta | None:
        """The schedule's worst case plus the measured backup time (a disaster just before a
        backup completes loses everything since the previous backup's snapshot)."""
        return None if self.worst_case_loss is None else self.worst_case_loss + self.backup_duration

    def message(self) -> str:
        """The verdict in a few readable lines: headline, RPO line, RTO line."""
        head = "backup promises kept" if self.passed else "backup promise broken: " + "; ".join(self.reasons)
        rpo_ok = self.promised_rpo is None or self.observed_rpo <= self.promised_rpo
        rto_ok = self.promised_rto is None or self.observed_rto <= self.promised_rto
        schedule = ("schedule worst case unknown" if self.worst_case_loss is None else
                    f"schedule worst case {_fmt(self.worst_case_loss)} + backup {_fmt(self.backup_duration)}"
                    f" = {_fmt(self.schedule_worst_case)}")
        rpo = (f"{_promise('RPO', self.promised_rpo, rpo_ok)}: observed {_fmt(self.observed_rpo)} "
               f"({self.lost_rows} rows lost); {schedule}")
        rto = (f"{_promise('RTO', self.promised_rto, rto_ok)}: observed {_fmt(self.observed_rto)} "
               "(disaster to first successful query)")
        return "\n".join((head, rpo, rto))

    def __str__(self) -> str:
        return self.message()

    def check(self) -> None:
        """Raise ``PromiseBroken`` with ``message()`` unless every promise is kept."""
        if not self.passed:
            raise PromiseBroken(self.message())
