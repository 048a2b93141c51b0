"""The cluster engine: the system's own Postgres StatefulSet and backup CronJob on a live cluster.

Everything goes through the ``archconform.kube.Kube`` facade (never the client directly):

- writer: a port-forward to the StatefulSet's pod, and the system's own connection string
  (``DATABASE_URL`` of the backup container, resolved from its Secret/ConfigMap) with host and
  port replaced by the forwarded local port;
- backup: a Job made from the CronJob's jobTemplate, exactly as ``kubectl create job NAME
  --from=cronjob/CJ`` does (name, ownerReference, ``cronjob.kubernetes.io/instantiate=manual``),
  waited for until Complete or Failed;
- a toolbox pod made from the same pod template (same image, env and volumes; command ``sleep``)
  is created after the backup Job completed; through exec it finds the newest dump on the backup
  volume, judges it by content (``dump.inspect_script``), runs the restore and the queries;
- disaster: the StatefulSet's pod and its data PVC(s) are deleted;
- restore, the documented procedure: the StatefulSet controller recreates the pod with an empty
  volume, the postgres image's entrypoint re-inits it and creates the database; once it answers
  (``pg_isready`` through the Service), the newest dump is loaded with psql/pg_restore from the
  toolbox, stopping at the first error.

Facade methods used: ``get``, ``list``, ``apply``, ``delete``, ``wait_for``, ``exec`` and
``port_forward`` (see docs/CONTRACTS.md).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import shlex
from datetime import datetime, timezone
from typing import Any

from ..errors import ClusterError, ManifestError, WaitTimeout, format_duration
from ..settings import DEFAULT_TIMEOUTS, Timeouts
from .cronjob import DATABASE_URL_VAR, backup_container, job_from_cronjob, pod_spec_of
from .dump import DumpFacts, inspect_script, parse_facts
from .engine import (BackupRecord, Engine, Instant, PsycopgSession, RestoreRecord, check_table_name,
                     judge_backup)
from .errors import BackupError, BackupFailed, RestoreFailed, first_line, redact_dsn
from .local import restore_script

#: Seconds between two checks while waiting for a Job or a pod: a backup Job takes seconds to
#: minutes, so one GET a second measures its completion closely enough for the RPO window.
POLL_INTERVAL = 1.0

#: File modification times come from the node's clock, Job start times from the API server's;
#: a dump counts as "new" when it is at most this many seconds older than the Job's start.
CLOCK_SKEW = 5.0

#: The label that marks the toolbox pod, so that a crashed run's leftovers can be found.
TOOLBOX_LABEL = "archconform.io/backup-toolbox"


def dns_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label from ``text``: lower case, ``-`` for anything else, at most ``limit``
    characters (shortened with a hash suffix when longer)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def rewrite_host(dsn: str, host: str, port: int) -> str:
    """``dsn`` (URL or key/value) pointed at ``host:port``; everything else kept."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, host=host, port=str(port))


def _exec_error(result: Any) -> str:
    """The telling line of a failed exec: the tool's first error line, or the exec's own error
    (``rc`` None: the command could not start)."""
    text = result.stderr or result.stdout
    if not text and getattr(result, "error", None):
        return str(result.error)
    return first_line(text)


def _ready(pod: dict | None) -> bool:
    for cond in ((pod or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _uid(obj: dict | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("uid")


def _pod_state(pod: dict | None) -> str:
    if pod is None:
        return "no pod"
    status = pod.get("status") or {}
    waiting = [f"{c.get('name')}: {(c.get('state') or {}).get('waiting', {}).get('reason')}"
               for c in status.get("containerStatuses") or [] if (c.get("state") or {}).get("waiting")]
    return f"phase {status.get('phase', '?')}, ready {_ready(pod)}" + (f"; {', '.join(waiting)}" if waiting else "")


class ClusterEngine(Engine):
    """The experiment's operations on a live cluster, through ``archconform.kube.Kube`` only.

    ``cronjob`` and ``statefulset`` name the system's backup CronJob and Postgres StatefulSet in
    ``namespace``; ``container`` picks the backup container when there are several;
    ``database_url`` overrides the URL found in the backup container's env; ``backup_dir``
    overrides where dumps are looked for (default: the backup container's mount path that its
    command mentions). Objects the engine creates (Jobs, the toolbox pod) are deleted by
    ``close()``; the dumps stay where the system keeps them.
    """

    def __init__(self, kube: Any, *, namespace: str, cronjob: str, statefulset: str, run_id: str,
                 timeouts: Timeouts = DEFAULT_TIMEOUTS, container: str | None = None,
                 database_url: str | None = None, backup_dir: str | None = None, postgres_port: int = 5432):
        self.kube = kube
        self.namespace = namespace
        self.cronjob_name = cronjob
        self.statefulset = statefulset
        self.run_id = run_id
        self.timeouts = timeouts
        self.container_name = container
        self._database_url = database_url
        self._backup_dir_override = backup_dir
        self.postgres_port = postgres_port
        self.description = f"cluster: statefulset/{statefulset} and cronjob/{cronjob} in {namespace}"
        self._jobs: list[str] = []
        self._toolbox: str | None = None
        self._before_disaster: dict[str, Any] = {}

    # -- the system's objects ----------------------------------------------------------------
    def _get(self, kind: str, name: str) -> dict | None:
        return self.kube.get(kind, name, namespace=self.namespace)

    def _require(self, kind: str, name: str) -> dict:
        obj = self._get(kind, name)
        if obj is None:
            raise ClusterError(f"{kind.lower()}/{name} not found in namespace {self.namespace}")
        return obj

    def _cronjob(self) -> dict:
        return self._require("CronJob", self.cronjob_name)

    @property
    def pod_name(self) -> str:
        """The Postgres pod: ordinal 0 of the StatefulSet (the documents run a single instance)."""
        return f"{self.statefulset}-0"

    def _data_claims(self) -> list[str]:
        sts = self._require("StatefulSet", self.statefulset)
        spec = sts.get("spec") or {}
        claims = [f"{t['metadata']['name']}-{self.pod_name}" for t in spec.get("volumeClaimTemplates") or []]
        if not claims:
            volumes = ((spec.get("template") or {}).get("spec") or {}).get("volumes") or []
            claims = [v["persistentVolumeClaim"]["claimName"] for v in volumes if v.get("persistentVolumeClaim")]
        if not claims:
            raise ManifestError(f"statefulset/{self.statefulset} in {self.namespace} has no persistent volume: "
                                "its data is not on a PVC, so there is nothing to back up or destroy")
        return claims

    def _env_value(self, container: dict, name: str) -> str | None:
        for entry in container.get("env") or ():
            if entry.get("name") != name:
                continue
            if "value" in entry:
                return str(entry["value"])
            ref = entry.get("valueFrom") or {}
            if "secretKeyRef" in ref:
                return self._secret_value(ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
            if "configMapKeyRef" in ref:
                cm = self._require("ConfigMap", ref["configMapKeyRef"]["name"])
                return (cm.get("data") or {}).get(ref["configMapKeyRef"]["key"])
        for source in container.get("envFrom") or ():
            prefix = source.get("prefix", "")
            if not name.startswith(prefix):
                continue
            key = name[len(prefix):]
            if "secretRef" in source:
                value = self._secret_value(source["secretRef"]["name"], key, required=False)
            elif "configMapRef" in source:
                value = ((self._get("ConfigMap", source["configMapRef"]["name"]) or {}).get("data") or {}).get(key)
            else:
                value = None
            if value is not None:
                return value
        return None

    def _secret_value(self, secret: str, key: str, *, required: bool = True) -> str | None:
        obj = self._get("Secret", secret)
        data = (obj or {}).get("data") or {}
        if key not in data:
            if required:
                raise ClusterError(f"secret/{secret} in {self.namespace} has no key {key!r}")
            return None
        return base64.b64decode(data[key]).decode()

    def database_url(self) -> str:
        """The system's own connection string, as its backup container gets it."""
        if self._database_url:
            return self._database_url
        container = backup_container(self._cronjob(), self.container_name)
        url = self._env_value(container, DATABASE_URL_VAR)
        if not url:
            raise ManifestError(f"cronjob/{self.cronjob_name}: container {container.get('name')!r} has no "
                                f"{DATABASE_URL_VAR}; pass database_url=")
        return url

    # -- writer ------------------------------------------------------------------------------
    def connect(self) -> PsycopgSession:
        """A session through a port-forward to the Postgres pod (closed with the session)."""
        url = self.database_url()
        forward = self.kube.port_forward(self.pod_name, self.namespace, self.postgres_port)
        local = forward.__enter__()
        port = int(getattr(local, "local_port", local))
        return PsycopgSession(rewrite_host(url, "127.0.0.1", port), connect_timeout=self.timeouts.probe,
                              on_close=lambda: forward.__exit__(None, None, None))

    # -- backup ------------------------------------------------------------------------------
    def take_backup(self, table: str) -> BackupRecord:
        check_table_name(table)
        cronjob = self._cronjob()
        container = backup_container(cronjob, self.container_name)
        script = " ".join(tuple(container.get("command") or ()) + tuple(container.get("args") or ()))
        name = dns_name(f"{self.cronjob_name}-archconform-{self.run_id}-{len(self._jobs) + 1}")
        job = job_from_cronjob(cronjob, name)
        job["metadata"]["namespace"] = self.namespace
        started = Instant.now()
        self.kube.apply([job])
        self._jobs.append(name)
        source = f"job/{name} (from cronjob/{self.cronjob_name} in {self.namespace})"
        try:
            final = self.kube.wait_for(f"job/{self.namespace}/{name} to complete", lambda: self._job_state(name),
                                       timeout=self.timeouts.backup, interval=POLL_INTERVAL)
        except WaitTimeout as exc:
            raise BackupFailed(f"backup {source} did not complete within "
                               f"{format_duration(self.timeouts.backup)}; last state: {exc.last_state}") from None
        completed = Instant.now()
        exit_code, stderr = (0, "") if final == "Complete" else self._job_failure(name)
        job_obj = self._get("Job", name) or {}
        job_start = (job_obj.get("status") or {}).get("startTime")
        facts = self._newest_dump(cronjob, container, table, since=job_start) if exit_code == 0 else None
        judge_backup(exit_code=exit_code, stderr=stderr, facts=facts, script=script, source=source)
        assert facts is not None
        return BackupRecord(started, completed, facts.location, facts, exit_code, redact_dsn(script), detail=name)

    def _job_state(self, name: str) -> tuple[bool, str]:
        job = self._get("Job", name)
        if job is None:
            return False, "job not found yet"
        status = job.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
                return True, cond["type"]
        return False, (f"active {status.get('active', 0)}, succeeded {status.get('succeeded', 0)}, "
                       f"failed {status.get('failed', 0)}")

    def _job_failure(self, name: str) -> tuple[int, str]:
        """Exit code and message of the Job's last terminated container (the facade has no logs;
        the message is the termination message, or the log tail with FallbackToLogsOnError)."""
        pods = self.kube.list("Pod", namespace=self.namespace, label_selector=f"job-name={name}")
        for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                term = (status.get("state") or {}).get("terminated")
                if term:
                    detail = term.get("message") or term.get("reason") or "no termination message"
                    return int(term.get("exitCode", 1)) or 1, detail
        return 1, "the Job failed and none of its pods reports a terminated container"

    # -- toolbox -----------------------------------------------------------------------------
    def toolbox_pod(self, cronjob: dict) -> dict:
        """The toolbox: the backup container's pod template, sleeping instead of dumping."""
        spec = copy.deepcopy(pod_spec_of(cronjob))
        wanted = backup_container(cronjob, self.container_name).get("name")
        container = next(c for c in spec["containers"] if c.get("name") == wanted)
        for key in ("args", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            container.pop(key, None)
        container["command"] = ["sleep", str(int(self.timeouts.backup + self.timeouts.restore))]
        spec["containers"] = [container]
        spec.pop("initContainers", None)
        spec["restartPolicy"] = "Never"
        name = dns_name(f"{self.cronjob_name}-archconform-toolbox-{self.run_id}")
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": self.namespace, "labels": {TOOLBOX_LABEL: "true"}},
                "spec": spec}

    def _ensure_toolbox(self, cronjob: dict) -> str:
        if self._toolbox is not None:
            return self._toolbox
        pod = self.toolbox_pod(cronjob)
        name = pod["metadata"]["name"]
        self.kube.apply([pod])
        self._toolbox = name

        def running() -> tuple[bool, str]:
            obj = self._get("Pod", name)
            phase = ((obj or {}).get("status") or {}).get("phase")
            if phase in ("Failed", "Succeeded"):
                raise ClusterError(f"toolbox pod/{name} ended ({phase}): {_pod_state(obj)}")
            return phase == "Running", _pod_state(obj)

        self.kube.wait_for(f"pod/{self.namespace}/{name} (backup toolbox) to run", running,
                           timeout=self.timeouts.pod_start, interval=POLL_INTERVAL)
        return name

    def _sh(self, script: str, *, timeout: float, shell: str = "/bin/sh"):
        assert self._toolbox is not None
        return self.kube.exec(self._toolbox, self.namespace, [shell, "-c", script], timeout=timeout)

    def _backup_dir(self, container: dict) -> str:
        if self._backup_dir_override:
            return self._backup_dir_override
        mounts = [m["mountPath"] for m in container.get("volumeMounts") or ()]
        text = " ".join(tuple(container.get("command") or ()) + tuple(container.get("args") or ()))
        mentioned = [m for m in mounts if re.search(re.escape(m.rstrip("/")) + r"(?=/|\s|$)", text)]
        if mentioned or mounts:
            return (mentioned or mounts)[0]
        raise ManifestError(f"cronjob/{self.cronjob_name}: the backup container mounts no volume, so its "
                            "dump dies with the pod (nothing to restore from)")

    def _newest_dump(self, cronjob: dict, container: dict, table: str, *, since: str | None) -> DumpFacts | None:
        toolbox = self._ensure_toolbox(cronjob)
        directory = self._backup_dir(container)
        listing = self._sh(f"find {shlex.quote(directory)} -type f -exec stat -c '%Y %n' {{}} +",
                           timeout=self.timeouts.api_request)
        files = []
        for line in listing.stdout.splitlines():
            mtime, _, path = line.partition(" ")
            if mtime.isdigit() and path:
                files.append((int(mtime), path))
        if since:
            start = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
            files = [(m, p) for m, p in files if m >= start - CLOCK_SKEW]
        if not files:
            return None
        _, newest = max(files)
        out = self._sh(inspect_script(newest, table), timeout=self.timeouts.backup)
        return parse_facts(out.stdout, f"pod/{toolbox}:{newest}", table)

    # -- disaster and restore ----------------------------------------------------------------
    def disaster(self) -> None:
        """Delete the Postgres pod and its data PVC(s): the data is gone."""
        claims = self._data_claims()
        self._before_disaster = {
            "pod": _uid(self._get("Pod", self.pod_name)),
            "claims": {c: _uid(self._get("PersistentVolumeClaim", c)) for c in claims},
        }
        for claim in claims:
            self.kube.delete("PersistentVolumeClaim", claim, namespace=self.namespace)
        self.kube.delete("Pod", self.pod_name, namespace=self.namespace)

    def _recreated(self) -> tuple[bool, str]:
        """Old claims gone, a new pod Ready. (A pod recreated while its claim was still terminating
        stays Pending; the StatefulSet controller creates the missing claim for a Pending pod.)"""
        old = self._before_disaster
        for claim, uid in old.get("claims", {}).items():
            if _uid(self._get("PersistentVolumeClaim", claim)) == uid:
                return False, f"old persistentvolumeclaim/{claim} still terminating"
        pod = self._get("Pod", self.pod_name)
        if pod is None:
            return False, "pod not recreated yet"
        if _uid(pod) == old.get("pod"):
            return False, "old pod still terminating"
        return _ready(pod), _pod_state(pod)

    def restore(self, backup: BackupRecord) -> RestoreRecord:
        started = Instant.now()
        budget = self.timeouts.restore
        phases = []
        try:
            self.kube.wait_for(f"pod/{self.namespace}/{self.pod_name} to be recreated on an empty volume and ready",
                               self._recreated, timeout=budget, interval=POLL_INTERVAL)
            phases.append(("re-init", Instant.now().seconds_since(started)))
            mark = Instant.now()
            self.kube.wait_for(f"the database behind {DATABASE_URL_VAR} to accept connections",
                               self._accepting, timeout=max(1.0, budget - mark.seconds_since(started)),
                               interval=POLL_INTERVAL)
            phases.append(("start", Instant.now().seconds_since(mark)))
        except WaitTimeout as exc:
            raise RestoreFailed(f"restore of {backup.location} failed: {exc}") from None
        mark = Instant.now()
        path = backup.location.split(":", 1)[1]
        script = restore_script(backup.facts, path)
        remaining = max(1.0, budget - mark.seconds_since(started))
        result = self._sh(script, timeout=remaining, shell=self._shell())
        tool = "pg_restore" if backup.facts.custom else "psql"
        if result.rc != 0:
            raise RestoreFailed(f"restore of {backup.location} failed ({tool} exit {result.rc}): "
                                f"{redact_dsn(_exec_error(result))}")
        completed = Instant.now()
        phases.append(("load", completed.seconds_since(mark)))
        return RestoreRecord(started, completed, script, tuple(phases))

    def _shell(self) -> str:
        """The backup command's own shell when it names one (bash has pipefail everywhere)."""
        container = backup_container(self._cronjob(), self.container_name)
        first = (tuple(container.get("command") or ()) + ("",))[0]
        return first if first.endswith(("/bash", "/sh", "/ash")) else "/bin/sh"

    def _accepting(self) -> tuple[bool, str]:
        result = self._sh('pg_isready -d "$DATABASE_URL"', timeout=self.timeouts.api_request)
        return result.rc == 0, first_line(result.stdout or result.stderr, prefer="")

    # -- reading -----------------------------------------------------------------------------
    def _query(self, sql: str) -> str:
        result = self._sh(f'psql "$DATABASE_URL" -X -q -tA -v ON_ERROR_STOP=1 -c {shlex.quote(sql)}',
                          timeout=self.timeouts.api_request)
        if result.rc != 0:
            raise BackupError(f"query failed in pod/{self._toolbox} (psql exit {result.rc}): "
                              f"{redact_dsn(_exec_error(result))}")
        return result.stdout

    def probe(self, table: str) -> tuple[int, int | None]:
        check_table_name(table)
        count, _, newest = self._query(f"SELECT count(*) || ' ' || coalesce(max(seq)::text, '') FROM {table}").strip().partition(" ")
        return int(count), (int(newest) if newest else None)

    def read_stamps(self, table: str) -> list[tuple[int, datetime]]:
        check_table_name(table)
        out = self._query(f"SELECT seq || ' ' || to_char(written_at AT TIME ZONE 'UTC', "
                          f"'YYYY-MM-DD\"T\"HH24:MI:SS.US') FROM {table} ORDER BY seq")
        rows = []
        for line in out.splitlines():
            seq, _, stamp = line.strip().partition(" ")
            if seq:
                rows.append((int(seq), datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc)))
        return rows

    # -- cleanup -----------------------------------------------------------------------------
    def close(self) -> None:
        """Delete the Jobs (and their pods) and the toolbox pod this engine created; the dumps stay."""
        created = []
        for name in self._jobs:
            created.append(("Job", name))
            try:
                pods = self.kube.list("Pod", namespace=self.namespace, label_selector=f"job-name={name}")
            except Exception:  # the Job's pods are best effort; the Job itself is reported below
                pods = []
            created += [("Pod", p["metadata"]["name"]) for p in pods]
        if self._toolbox:
            created.append(("Pod", self._toolbox))
        self._jobs, self._toolbox = [], None
        errors = []
        for kind, name in created:
            try:
                self.kube.delete(kind, name, namespace=self.namespace)
            except Exception as exc:  # keep cleaning; report what could not be deleted
                if "NotFound" not in type(exc).__name__:
                    errors.append(f"{kind.lower()}/{name}: {exc}")
        if errors:
            raise ClusterError("could not clean up after the backup experiment: " + "; ".join(errors))
