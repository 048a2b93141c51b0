"""Backup schedules against recovery promises: worst-case data-loss window, retention, and
silent-failure pipelines.

Schedule semantics follow what runs a CronJob: the Kubernetes CronJob controller, which uses
robfig/cron v3 (standard 5-field syntax, the descriptors ``@yearly @annually @monthly @weekly
@daily @midnight @hourly``, and ``@every <duration>``), evaluated in ``spec.timeZone`` (default:
the controller's zone, taken as UTC here). The expression is parsed and expanded with croniter;
firing times are then generated the way robfig/cron walks a day: hour by hour in absolute time
from local midnight. Consequences around daylight-saving changes (checked in the tests):

- spring forward: a wall-clock hour that does not exist is skipped, so a daily ``30 2 * * *``
  in Europe/Berlin does not run on that day (gap 47 h). croniter itself would run it at 03:00
  instead: a difference this module reports rather than hides.
- fall back: the repeated hour runs twice (shorter gap, never a longer one).
- day-of-month and day-of-week are ORed when both are restricted, ANDed when either is ``*``
  (or ``?``); a stepped ``*/2`` counts as restricted (robfig's star bit).

The worst-case loss window of a schedule is the longest time between two consecutive runs over
a year (plus the backup's own duration, if given: a disaster during a running backup loses
everything since the previous completed one). A suspended CronJob never runs.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from archconform.errors import ManifestError
from archconform.manifests import iter_containers

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_DUR = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s|d|w)")


def parse_duration(value: object) -> timedelta:
    """"1h", "15m", "1h30m", "24 hours", "7d", "2w", "720h", seconds as a number, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    words = {"hours": "h", "hour": "h", "minutes": "m", "minute": "m", "mins": "m", "min": "m", "seconds": "s",
             "second": "s", "days": "d", "day": "d", "weeks": "w", "week": "w"}
    for w, u in words.items():
        text = re.sub(rf"(\d)\s*{w}\b", rf"\1{u}", text)
    text = text.replace(" ", "")
    pos, total = 0, 0.0
    unit_s = {"h": 3600, "m": 60, "s": 1, "d": 86400, "w": 604800, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    for m in _DUR.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * unit_s[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ManifestError(f"not a duration: {value!r} (expected e.g. 1h, 15m, 24h, 7d)")
    return timedelta(seconds=total)


@dataclass
class Gaps:
    """Result of scanning a schedule: worst gap, where it is, and notes (DST, prefixes)."""

    schedule: str
    tz: str
    worst: timedelta
    worst_from: datetime | None
    worst_to: datetime | None
    runs: int
    typical: timedelta | None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        where = ""
        if self.worst_from is not None and self.worst_to is not None:
            where = f" (from {self.worst_from:%Y-%m-%d %H:%M %Z} to {self.worst_to:%Y-%m-%d %H:%M %Z})"
        return f"schedule {self.schedule!r} in {self.tz}: worst gap {_fmt_td(self.worst)}{where}" + (
            "; " + "; ".join(self.notes) if self.notes else "")


def _fmt_td(td: timedelta) -> str:
    s = int(td.total_seconds())
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    return "".join(parts) or "0s"


def _zone(tz: str):
    if tz in ("UTC", "Etc/UTC", "", None):
        return timezone.utc
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ManifestError(f"unknown time zone {tz!r} (an IANA name like Europe/Berlin)") from None


def _star(field_text: str) -> bool:
    """robfig/cron's star bit: "*" or "?" (optionally with step 1)."""
    head, _, step = field_text.partition("/")
    return head in ("*", "?") and step in ("", "1")


def _full(values, lo: int, hi: int) -> set[int]:
    if values == ["*"]:
        return set(range(lo, hi + 1))
    return {int(v) for v in values}


def gaps(schedule: str, tz: str = "UTC", *, year: int | None = None) -> Gaps:
    """Scan one calendar year (default: the current one) of a cron schedule and return the worst
    gap between consecutive runs, in absolute time."""
    notes: list[str] = []
    text = schedule.strip()
    m = re.match(r"^(CRON_TZ|TZ)=(\S+)\s+(.*)$", text)
    if m:
        notes.append(f"{m.group(1)}= in the schedule is not supported by Kubernetes (use spec.timeZone); evaluated in {m.group(2)}")
        tz, text = m.group(2), m.group(3)
    zone = _zone(tz)
    if text.startswith("@every"):
        every = parse_duration(text[len("@every"):].strip())
        if every.total_seconds() <= 0:
            raise ManifestError(f"schedule {schedule!r}: @every needs a positive duration")
        return Gaps(schedule, tz, every, None, None, 0, every, notes)
    text = DESCRIPTORS.get(text, text)
    fields = text.split()
    if len(fields) != 5:
        raise ManifestError(f"schedule {schedule!r}: Kubernetes CronJobs take 5 fields (minute hour day-of-month month day-of-week)")
    if any("#" in f or re.search(r"(^|[,\-/])\d*[LW](?![A-Z])", f.upper()) for f in fields):
        raise ManifestError(f"schedule {schedule!r}: L, W and # are not standard cron (Kubernetes rejects them)")
    try:
        expanded = croniter(text).expanded
    except Exception as exc:  # croniter raises several error types
        raise ManifestError(f"schedule {schedule!r}: not a valid cron expression ({exc})") from None
    minutes = sorted(_full(expanded[0], 0, 59))
    hours = _full(expanded[1], 0, 23)
    doms = _full(expanded[2], 1, 31)
    months = _full(expanded[3], 1, 12)
    dows = {d % 7 for d in _full(expanded[4], 0, 6)}
    either_star = _star(fields[2]) or _star(fields[4])
    inner = max((b - a for a, b in zip(minutes, minutes[1:])), default=0) * 60

    def day_matches(d: date) -> bool:
        if d.month not in months:
            return False
        dom_ok = d.day in doms
        dow_ok = (d.weekday() + 1) % 7 in dows
        return (dom_ok and dow_ok) if either_star else (dom_ok or dow_ok)

    year = datetime.now(timezone.utc).year if year is None else year
    end = date(year + 1, 1, 1)
    d = date(year, 1, 1)
    prev_last: float | None = None
    worst, worst_from, worst_to = 0.0, None, None
    runs = 0
    limit = date(year + 9, 1, 1)
    first_after_end = False
    while d < limit and not first_after_end:
        if day_matches(d):
            midnight = datetime(d.year, d.month, d.day, tzinfo=zone).timestamp()
            t = midnight
            while True:
                lt = datetime.fromtimestamp(t, zone)
                if lt.date() != d:
                    break
                if lt.hour in hours:
                    start = t - lt.minute * 60 - lt.second
                    first = start + minutes[0] * 60
                    if prev_last is not None and first - prev_last > worst:
                        worst, worst_from, worst_to = first - prev_last, prev_last, first
                    if inner > worst:
                        worst, worst_from, worst_to = inner, first, first + inner
                    prev_last = start + minutes[-1] * 60
                    runs += len(minutes)
                    if d >= end and runs > 1:
                        first_after_end = True
                        break
                t += 3600
        d += timedelta(days=1)
    if runs < 2:
        raise ManifestError(f"schedule {schedule!r} fires fewer than twice in nine years from {year}")
    # DST notes: compare with croniter's own answer on the days where wall time jumps
    if zone is not timezone.utc:
        notes += _dst_notes(text, zone, year, hours, minutes, day_matches)
    to_dt = lambda x: None if x is None else datetime.fromtimestamp(x, zone)  # noqa: E731
    typical = timedelta(seconds=inner) if inner else None
    return Gaps(schedule, tz, timedelta(seconds=worst), to_dt(worst_from), to_dt(worst_to), runs, typical, notes)


def _dst_notes(text: str, zone, year: int, hours: set[int], minutes: list[int], day_matches) -> list[str]:
    notes = []
    d = date(year, 1, 1)
    while d.year == year:
        a = datetime(d.year, d.month, d.day, tzinfo=zone).utcoffset()
        b = datetime(d.year, d.month, d.day, 23, 59, tzinfo=zone).utcoffset()
        if a != b and day_matches(d):
            spring = b > a
            skipped = [h for h in hours if _wall_missing(d, h, zone)]
            if spring and skipped:
                notes.append(f"{d}: clocks go forward; runs at {', '.join(f'{h:02d}:{minutes[0]:02d}' for h in sorted(skipped))} "
                             "do not happen (robfig/cron, as the CronJob controller runs it; croniter would run them at the "
                             "first valid time instead)")
            elif not spring:
                notes.append(f"{d}: clocks go back; runs in the repeated hour happen twice")
        d += timedelta(days=1)
    return notes


def _wall_missing(d: date, hour: int, zone) -> bool:
    local = datetime(d.year, d.month, d.day, hour, 30, tzinfo=zone)
    back = datetime.fromtimestamp(local.timestamp(), zone)
    return back.hour != hour


def worst_case_loss(schedule: str, tz: str = "UTC", *, year: int | None = None) -> timedelta:
    """Longest time between two consecutive runs of the schedule over a year, in ``tz``."""
    return gaps(schedule, tz, year=year).worst


# ----------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class RpoVerdict:
    ok: bool
    worst: timedelta
    message: str

    @property
    def explanation(self) -> str:
        """Same as ``message`` (the name netpol/hpa verdicts use)."""
        return self.message


def _schedule_of(obj: dict) -> tuple[str, str, bool]:
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "CronJob":
        return spec["schedule"], spec.get("timeZone") or "UTC", bool(spec.get("suspend"))
    if kind == "Schedule":  # velero.io/v1 Schedule
        return spec["schedule"], "UTC", bool(spec.get("paused"))
    raise ManifestError(f"{kind} {(obj.get('metadata') or {}).get('name')}: not a CronJob or Velero Schedule")


def rpo_verdict(cronjob: dict, rpo: object, *, job_duration: object = 0, year: int | None = None) -> RpoVerdict:
    """Does the backup schedule keep a promised RPO? worst gap + job duration <= RPO."""
    promised = parse_duration(rpo)
    duration = parse_duration(job_duration)
    schedule, tz, suspended = _schedule_of(cronjob)
    name = f"{cronjob.get('kind')}/{(cronjob.get('metadata') or {}).get('name')}"
    if suspended:
        return RpoVerdict(False, timedelta.max, f"{name} is suspended: no backup runs, so no RPO is kept")
    g = gaps(schedule, tz, year=year)
    total = g.worst + duration
    ok = total <= promised
    extra = f" + job duration {_fmt_td(duration)}" if duration else ""
    msg = f"{name}: {g.describe()}{extra} = {_fmt_td(total)} {'<=' if ok else '>'} promised RPO {_fmt_td(promised)}"
    return RpoVerdict(ok, total, msg)


# ----------------------------------------------------------------------------- scripts


def script_text(obj: dict) -> str:
    """Every container's command and args joined (shell scripts included as written)."""
    parts = []
    for _spec, c in iter_containers(obj):
        parts += [str(x) for x in (c.get("command") or [])] + [str(x) for x in (c.get("args") or [])]
    return "\n".join(parts)


_PRUNE = [
    (re.compile(r"\bfind\b[^\n;|&]*-mtime\s+\+?(\d+)[^\n;|&]*(-delete|-exec\s+rm)"), "find -mtime +{0} -delete", lambda m: timedelta(days=int(m.group(1)))),
    (re.compile(r"\bfind\b[^\n;|&]*-mmin\s+\+?(\d+)[^\n;|&]*(-delete|-exec\s+rm)"), "find -mmin +{0} -delete", lambda m: timedelta(minutes=int(m.group(1)))),
    (re.compile(r"\bls\b[^\n|]*\|\s*(?:tail\s+-n\s*\+(\d+)|head\s+-n\s*-(\d+))[^\n]*\|\s*xargs[^\n]*\brm\b"), "keep-last-N (ls | tail | xargs rm)", None),
    (re.compile(r"\brestic\b[^\n]*\bforget\b"), "restic forget", None),
    (re.compile(r"\bborg\b[^\n]*\bprune\b"), "borg prune", None),
    (re.compile(r"\bpgbackrest\b[^\n]*\bexpire\b|repo\d-retention-full"), "pgBackRest expire/retention", None),
    (re.compile(r"\bwal-g\b[^\n]*\bdelete\b"), "wal-g delete", None),
    (re.compile(r"\bkopia\b[^\n]*\b(expire|maintenance)\b"), "kopia expire", None),
    (re.compile(r"\bmc\b[^\n]*\brm\b[^\n]*--older-than[ =](\S+)"), "mc rm --older-than {0}", lambda m: parse_duration(m.group(1))),
    (re.compile(r"\brclone\b[^\n]*\bdelete\b[^\n]*--min-age[ =](\S+)"), "rclone delete --min-age {0}", lambda m: parse_duration(m.group(1))),
    (re.compile(r"\baws\b[^\n]*\bs3\b[^\n]*\brm\b"), "aws s3 rm", None),
]
_OBJECT_STORAGE = re.compile(r"\b(s3://|gs://|az://|https://[^\s]*blob\.core|aws\s+s3\s+(cp|sync|mv)|mc\s+(cp|mirror)|gsutil\s+(cp|rsync)|rclone\s+(copy|sync))")
_DUMPERS = re.compile(r"\b(pg_dump|pg_dumpall|pg_basebackup|mysqldump|mariadb-dump|mongodump|tar|etcdctl|redis-cli|sqlite3)\b")


@dataclass(frozen=True)
class Retention:
    mechanism: str | None
    keeps: timedelta | None
    findings: list[str]


def retention(obj: dict, promised: object | None = None) -> Retention:
    """What prunes old backups, if anything, and whether it keeps the promised retention.

    Honest and simple: pruning is recognised from well-known commands (``find -mtime +N
    -delete``, ``restic forget``, ``borg prune``, pgBackRest/wal-g/kopia expiry, ``mc rm
    --older-than``, ...) and Velero's ``ttl`` (default 720h). Writing to object storage without
    such a command means a bucket lifecycle rule would have to do it, which the manifests cannot
    show. Nothing found: "no pruning found", every backup is kept for ever (and the volume
    fills up)."""
    name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    want = None if promised is None else parse_duration(promised)
    if obj.get("kind") == "Schedule":
        ttl = parse_duration(((obj.get("spec") or {}).get("template") or {}).get("ttl") or "720h")
        f = [] if want is None or ttl >= want else [f"{name}: Velero ttl {_fmt_td(ttl)} is shorter than the promised retention {_fmt_td(want)}"]
        return Retention("velero ttl", ttl, f)
    text = script_text(obj)
    for rx, label, keep in _PRUNE:
        m = rx.search(text)
        if m:
            kept = keep(m) if keep else None
            groups = [g for g in m.groups() if g] or [""]
            mech = label.format(*groups)
            findings = []
            if want is not None and kept is not None and kept < want:
                findings.append(f"{name}: prunes with {mech}, keeping {_fmt_td(kept)} < promised {_fmt_td(want)}")
            elif want is not None and kept is None:
                findings.append(f"{name}: prunes with {mech}; the kept period is not visible in the command, check it against {_fmt_td(want)}")
            return Retention(mech, kept, findings)
    if _OBJECT_STORAGE.search(text):
        return Retention(None, None, [f"{name}: writes backups to object storage and prunes nothing itself; retention depends on a "
                                      "bucket lifecycle rule the manifests do not show"])
    return Retention(None, None, [f"{name}: no pruning found; every backup is kept for ever (the volume fills up)"
                                  + ("" if want is None else f", so the promised retention of {_fmt_td(want)} is not implemented")])


def pipefail_findings(obj: dict) -> list[str]:
    """A dump piped into a compressor without ``pipefail`` exits with the compressor's status:
    a failed ``pg_dump | gzip > f`` leaves an empty archive and a SUCCESSFUL Job."""
    name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    text = script_text(obj)
    has_pipefail = re.search(r"set\s+-[a-zA-Z]*o\s+pipefail|set\s+-o\s+pipefail|-o\s+pipefail|\bpipefail\b", text)
    out = []
    for line in text.splitlines():
        for segment in re.split(r"[;&]{1,2}|\n", line):
            parts = re.split(r"(?<!\|)\|(?!\|)", segment)
            if len(parts) > 1:
                m = _DUMPERS.search(parts[0])
                if m and not has_pipefail:
                    out.append(f"{name}: '{segment.strip()}' pipes {m.group(1)} without 'set -o pipefail': if {m.group(1)} "
                               f"fails the pipeline still exits 0, the Job succeeds and the backup is empty or truncated")
    return out


def _words(text: str) -> list[str]:  # pragma: no cover - kept for callers that want tokens
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def backup_objects(manifests: Iterable[dict]) -> list[dict]:
    """CronJobs and Velero Schedules in a manifest set."""
    return [o for o in manifests if o.get("kind") == "CronJob" or (o.get("kind") == "Schedule" and str(o.get("apiVersion", "")).startswith("velero.io/"))]
