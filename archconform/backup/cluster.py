"""The cluster engine: the system's own Postgres workload and backup CronJob on a live cluster.

Everything goes through the ``archconform.kube.Kube`` facade (never the client directly):

- the database: a StatefulSet (its pod ordinal 0 and that pod's claims from
  ``volumeClaimTemplates``) or a Deployment (its current pod, found by its selector, and the
  PersistentVolumeClaims its pod template names);
- writer: a port-forward to the database pod, and the system's own connection string with host
  and port replaced by the forwarded local port: ``DATABASE_URL`` of the backup container
  (resolved from its Secret/ConfigMap), or, when it has none, the connection its ``pg_dump``
  makes (``-h``/``-p``/``-U``/dbname options, ``$VARIABLES`` in them, ``PGHOST``/``PGPORT``/
  ``PGUSER``/``PGDATABASE``/``PGPASSWORD``);
- backup: a Job made from the CronJob's jobTemplate, exactly as ``kubectl create job NAME
  --from=cronjob/CJ`` does (name, ownerReference, ``cronjob.kubernetes.io/instantiate=manual``),
  under a name no object has yet, waited for until Complete or Failed;
- a toolbox pod made from the same pod template (same labels, so the same NetworkPolicies admit
  it; same image, env and volumes; command ``sleep``; ``DATABASE_URL`` added when the backup
  container has none) is created after the backup Job
  completed; through exec it finds the newest dump on the backup volume, judges it by content
  (``dump.inspect_script``), runs the restore and the queries;
- disaster: the database pod and its data PVC(s) are deleted (with ``require_owned``, only when
  the workload and the claims carry this run's ownership labels);
- restore, the documented procedure: a claim the StatefulSet controller does not own is re-created
  from its manifest (as re-applying the system's manifests would), the controller recreates the
  pod with an empty volume, the postgres image's entrypoint re-inits it and creates the database;
  once it answers (``pg_isready`` through the Service), the newest dump is loaded with
  psql/pg_restore from the toolbox, stopping at the first error.

Facade methods used: ``get``, ``list``, ``apply``, ``create``, ``delete``, ``wait_for``, ``exec``
and ``port_forward`` (see docs/CONTRACTS.md). ``run_against_workload`` is the one call a step
makes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import secrets
import shlex
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import ClusterError, ManifestError, UsageError, WaitTimeout, format_duration
from ..settings import DEFAULT_TIMEOUTS, Timeouts
from .cronjob import DATABASE_URL_VAR, backup_container, job_from_cronjob, pod_spec_of
from .dump import DumpFacts, inspect_script, parse_facts
from .engine import (BackupRecord, Engine, Instant, PsycopgSession, RestoreRecord, check_table_name,
                     judge_backup)
from .errors import BackupError, BackupFailed, RestoreFailed, WriterCannotConnect, first_line, redact_dsn
from .local import restore_script

#: Seconds between two checks while waiting for a Job or a pod: a backup Job takes seconds to
#: minutes, so one GET a second measures its completion closely enough for the RPO window.
POLL_INTERVAL = 1.0

#: File modification times come from the node's clock, Job start times from the API server's;
#: a dump counts as "new" when it is at most this many seconds older than the Job's start.
CLOCK_SKEW = 5.0

#: The label that marks the toolbox pod, so that a crashed run's leftovers can be found.
TOOLBOX_LABEL = "archconform.io/backup-toolbox"

#: Connection errors that waiting cannot cure (the writer fails at once): a refused login, an
#: unknown role or database, a pg_hba.conf rule.
_FINAL_LOGIN_ERRORS = re.compile(r"authentication failed|does not exist|pg_hba\.conf|permission denied", re.I)

#: The kinds of database workload the experiment knows how to destroy and wait for.
WORKLOAD_KINDS = ("StatefulSet", "Deployment")

#: The experiment's pace on a live cluster (``run_against_workload``): one stamped row a second,
#: written for 30 s before the backup Job is created and 30 s after it completed, so the loss
#: window is measured to the second and the chart shows rows on both sides of the backup.
WRITER_INTERVAL = 1.0
BEFORE_BACKUP = 30.0
AFTER_BACKUP = 30.0

#: How many names (``...-1``, ``...-2``, ...) are tried for a Job or toolbox pod before giving up:
#: an earlier scenario of the same run may have left one terminating.
_NAME_ATTEMPTS = 20


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


# -- the connection a pg_dump command makes ----------------------------------------------------

#: The client programs whose connection options are read.
_PG_CLIENTS = ("pg_dump", "pg_dumpall")
#: Connection options of pg_dump/pg_dumpall and the libpq keyword each sets.
_CONN_OPTIONS = {"-h": "host", "--host": "host", "-p": "port", "--port": "port", "-U": "user",
                 "--username": "user", "-d": "dbname", "--dbname": "dbname", "-l": "dbname",
                 "--database": "dbname"}
#: Other short options that take a value (so that the value is not read as the database name).
_VALUE_SHORT = set("EefFjnNStTZ")
#: Other long options that take a value when written without ``=``.
_VALUE_LONG = {"--file", "--format", "--jobs", "--schema", "--exclude-schema", "--table",
               "--exclude-table", "--compress", "--encoding", "--extension", "--exclude-extension",
               "--superuser", "--role", "--lock-wait-timeout", "--section", "--snapshot",
               "--exclude-table-data", "--exclude-table-and-children", "--table-and-children",
               "--exclude-table-data-and-children", "--extra-float-digits", "--rows-per-insert",
               "--filter", "--sync-method", "--exclude-database"}
#: libpq's environment variables for the keywords the experiment needs.
_PG_ENV = (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("dbname", "PGDATABASE"),
           ("password", "PGPASSWORD"))
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _shell_tokens(argv: list[str]) -> list[str]:
    """Shell words of a command (each argument split again, so ``bash -c "script"`` yields the
    script's words; operators such as ``|`` and ``;`` are words of their own)."""
    tokens: list[str] = []
    for arg in argv:
        lexer = shlex.shlex(str(arg), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens += list(lexer)
        except ValueError:  # unbalanced quotes: fall back to whitespace
            tokens += str(arg).split()
    return tokens


def pg_dump_arguments(argv: list[str]) -> list[str] | None:
    """The arguments of the first pg_dump/pg_dumpall in a command (up to the next shell operator),
    or None when the command runs neither."""
    tokens = _shell_tokens(argv)
    for i, token in enumerate(tokens):
        if token.rsplit("/", 1)[-1] in _PG_CLIENTS:
            args = []
            for word in tokens[i + 1:]:
                if word and set(word) <= set("|&;<>()"):
                    break
                args.append(word)
            return args
    return None


def connection_options(args: list[str]) -> dict[str, str]:
    """libpq keyword -> value as written (``$VARIABLES`` unexpanded) from pg_dump arguments:
    ``-h``/``-p``/``-U``/``-d`` in every spelling, and the first positional word as the database
    name (or connection string)."""
    out: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if name in _CONN_OPTIONS:
                if not eq:
                    i += 1
                    value = args[i] if i < len(args) else ""
                out[_CONN_OPTIONS[name]] = value
            elif not eq and name in _VALUE_LONG:
                i += 1
        elif word.startswith("-") and len(word) > 1:
            flag, rest = word[:2], word[2:]
            if flag in _CONN_OPTIONS:
                if not rest:
                    i += 1
                    rest = args[i] if i < len(args) else ""
                out[_CONN_OPTIONS[flag]] = rest
            elif word[1] in _VALUE_SHORT and not rest:
                i += 1
        else:
            positional.append(word)
        i += 1
    if positional and "dbname" not in out:
        out["dbname"] = positional[0]
    return out


def _is_conninfo(text: str) -> bool:
    return "=" in text or text.startswith(("postgresql://", "postgres://"))


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


def label_selector(selector: dict | None) -> str:
    """A workload's ``spec.selector`` as a label selector string (matchLabels and
    matchExpressions In/NotIn/Exists/DoesNotExist)."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    if not parts:
        raise ManifestError("the workload's selector is empty: its pods cannot be told apart")
    return ",".join(parts)


#: PersistentVolumeClaim spec fields a re-created claim keeps (not volumeName: that PV is gone).
_CLAIM_SPEC_FIELDS = ("accessModes", "resources", "storageClassName", "volumeMode", "selector",
                      "dataSource", "dataSourceRef", "volumeAttributesClassName")
#: Annotation prefixes the control plane writes on a claim (binding, provisioning).
_CLAIM_SYSTEM_ANNOTATIONS = ("pv.kubernetes.io/", "volume.beta.kubernetes.io/", "volume.kubernetes.io/",
                             "kubectl.kubernetes.io/last-applied-configuration")


def claim_manifest(claim: dict) -> dict:
    """The manifest a live PersistentVolumeClaim was made from: name, labels, the user's
    annotations and the request fields of its spec (no status, uid, binding or finalizers)."""
    md = claim.get("metadata") or {}
    metadata: dict = {"name": md["name"]}
    if md.get("namespace"):
        metadata["namespace"] = md["namespace"]
    if md.get("labels"):
        metadata["labels"] = dict(md["labels"])
    notes = {k: v for k, v in (md.get("annotations") or {}).items() if not k.startswith(_CLAIM_SYSTEM_ANNOTATIONS)}
    if notes:
        metadata["annotations"] = notes
    spec = {k: copy.deepcopy(v) for k, v in (claim.get("spec") or {}).items() if k in _CLAIM_SPEC_FIELDS}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec}


class ClusterEngine(Engine):
    """The experiment's operations on a live cluster, through ``archconform.kube.Kube`` only.

    ``cronjob`` names the system's backup CronJob in ``namespace``; the database is the
    StatefulSet ``statefulset`` or the Deployment ``deployment`` there (exactly one).
    ``container`` picks the backup container when there are several; ``database_url`` overrides
    the connection found in the backup container; ``backup_dir`` overrides where dumps are looked
    for (default: the backup container's mount path that its command mentions). With
    ``require_owned`` the disaster refuses to delete anything unless the workload (and every
    claim the engine must re-create) carries this run's ownership labels. Objects the engine
    creates (Jobs, the toolbox pod) are deleted by ``close()``; the dumps stay where the system
    keeps them.
    """

    def __init__(self, kube: Any, *, namespace: str, cronjob: str, run_id: str, statefulset: str | None = None,
                 deployment: str | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS, container: str | None = None,
                 database_url: str | None = None, backup_dir: str | None = None, postgres_port: int = 5432,
                 require_owned: bool = False):
        if (statefulset is None) == (deployment is None):
            raise UsageError("the backup experiment needs the database workload: exactly one of "
                             "statefulset= or deployment=")
        self.kube = kube
        self.namespace = namespace
        self.cronjob_name = cronjob
        self.workload_kind = "StatefulSet" if statefulset is not None else "Deployment"
        self.workload_name: str = statefulset if statefulset is not None else deployment  # type: ignore[assignment]
        self.statefulset = statefulset
        self.run_id = run_id
        self.timeouts = timeouts
        self.container_name = container
        self._database_url = database_url
        self._backup_dir_override = backup_dir
        self.postgres_port = postgres_port
        self.require_owned = require_owned
        self.workload_ref = f"{self.workload_kind.lower()}/{self.workload_name}"
        self.description = f"cluster: {self.workload_ref} and cronjob/{cronjob} in {namespace}"
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

    def _workload(self) -> dict:
        return self._require(self.workload_kind, self.workload_name)

    def _pods(self) -> list[dict]:
        """The workload's pods that are not being deleted."""
        if self.workload_kind == "StatefulSet":
            pod = self._get("Pod", f"{self.workload_name}-0")
            pods = [pod] if pod is not None else []
        else:
            selector = label_selector((self._workload().get("spec") or {}).get("selector"))
            pods = self.kube.list("Pod", namespace=self.namespace, label_selector=selector)
        return [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]

    def _current_pod(self) -> dict | None:
        """The database pod: ordinal 0 of a StatefulSet (the documents run a single instance), or
        a Deployment's pod (a Ready one first, then the newest)."""
        pods = self._pods()
        if not pods:
            return None
        return max(pods, key=lambda p: (_ready(p), (p.get("metadata") or {}).get("creationTimestamp") or ""))

    @property
    def pod_name(self) -> str:
        """The database pod's name (for a Deployment: its current pod)."""
        if self.workload_kind == "StatefulSet":
            return f"{self.workload_name}-0"
        pod = self._current_pod()
        if pod is None:
            raise ClusterError(f"{self.workload_ref} in {self.namespace} has no pod")
        return pod["metadata"]["name"]

    def _data_claims(self, workload: dict | None = None) -> list[tuple[str, bool]]:
        """(claim name, standalone) of the database's data: a StatefulSet's claims of ordinal 0
        from its volumeClaimTemplates (re-created by its controller), else the claims its pod
        template names (standalone: nothing re-creates them but the engine)."""
        spec = (workload or self._workload()).get("spec") or {}
        if self.workload_kind == "StatefulSet":
            templates = spec.get("volumeClaimTemplates") or []
            claims = [(f"{t['metadata']['name']}-{self.workload_name}-0", False) for t in templates]
            if claims:
                return claims
        volumes = ((spec.get("template") or {}).get("spec") or {}).get("volumes") or []
        claims = [(v["persistentVolumeClaim"]["claimName"], True) for v in volumes if v.get("persistentVolumeClaim")]
        if not claims:
            raise ManifestError(f"{self.workload_ref} in {self.namespace} has no persistent volume: "
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

    @staticmethod
    def _declares(container: dict, name: str) -> bool:
        return any(e.get("name") == name for e in container.get("env") or ())

    def _expand(self, container: dict, text: str) -> str:
        """``$VAR`` and ``${VAR}`` in a command word replaced by the container's env values."""
        def value(m: re.Match) -> str:
            name = m.group(1) or m.group(2)
            resolved = self._env_value(container, name)
            if resolved is None:
                raise ManifestError(f"cronjob/{self.cronjob_name}: the backup command uses ${name}, which its "
                                    f"container {container.get('name')!r} does not set; pass database_url=")
            return resolved

        return _VARIABLE.sub(value, text)

    def connection_params(self, container: dict | None = None) -> dict[str, str]:
        """The libpq keywords of the connection the backup command's pg_dump makes (password
        included when it is known), for a container without ``DATABASE_URL``."""
        from psycopg.conninfo import conninfo_to_dict

        container = container or backup_container(self._cronjob(), self.container_name)
        argv = [str(a) for a in tuple(container.get("command") or ()) + tuple(container.get("args") or ())]
        where = f"cronjob/{self.cronjob_name}: container {container.get('name')!r}"
        args = pg_dump_arguments(argv)
        if args is None:
            raise ManifestError(f"{where} has no {DATABASE_URL_VAR} and its command runs no pg_dump, so the "
                                "database it backs up is unknown; pass database_url=")
        options = connection_options(args)
        params: dict[str, str] = {}
        dbname = self._expand(container, options.pop("dbname")) if "dbname" in options else None
        if dbname and _is_conninfo(dbname):
            params.update({k: str(v) for k, v in conninfo_to_dict(dbname).items()})
        elif dbname:
            params["dbname"] = dbname
        for key, value in options.items():
            params[key] = self._expand(container, value)
        for key, variable in _PG_ENV:
            if key not in params:
                value = self._env_value(container, variable)
                if value:
                    params[key] = value
        if not params.get("host") or params["host"].startswith("/"):
            raise ManifestError(f"{where}: its pg_dump names no host (it would use a Unix socket in its own "
                                "pod); pass database_url=")
        if not params.get("user"):
            raise ManifestError(f"{where}: its pg_dump names no user (-U or PGUSER); pass database_url=")
        params.setdefault("dbname", params["user"])
        return params

    def database_url(self) -> str:
        """The system's own connection string, as its backup command uses it."""
        if self._database_url:
            return self._database_url
        from psycopg.conninfo import make_conninfo

        container = backup_container(self._cronjob(), self.container_name)
        if self._declares(container, DATABASE_URL_VAR):
            url = self._env_value(container, DATABASE_URL_VAR)
            if not url:
                raise ManifestError(f"cronjob/{self.cronjob_name}: {DATABASE_URL_VAR} of container "
                                    f"{container.get('name')!r} is empty; pass database_url=")
            return url
        return make_conninfo(**self.connection_params(container))

    def _toolbox_connection(self, container: dict) -> dict | None:
        """The env entry that gives the toolbox's scripts ``$DATABASE_URL`` when the backup
        container has none: the same Secret/ConfigMap entry when pg_dump's database argument is
        one variable, else the connection's keywords without the password (libpq reads
        ``PGPASSWORD`` from the toolbox's env, copied from the backup container)."""
        from psycopg.conninfo import make_conninfo

        if self._declares(container, DATABASE_URL_VAR):
            return None
        argv = [str(a) for a in tuple(container.get("command") or ()) + tuple(container.get("args") or ())]
        options = connection_options(pg_dump_arguments(argv) or [])
        whole = _VARIABLE.fullmatch(options.get("dbname", ""))
        if whole and len(options) == 1:
            source = next((e for e in container.get("env") or () if e.get("name") == (whole.group(1) or whole.group(2))), None)
            if source is not None:
                return {**copy.deepcopy(source), "name": DATABASE_URL_VAR}
        params = {k: v for k, v in self.connection_params(container).items() if k != "password"}
        return {"name": DATABASE_URL_VAR, "value": make_conninfo(**params)}

    # -- writer ------------------------------------------------------------------------------
    def connect(self) -> PsycopgSession:
        """A session through a port-forward to the database pod (closed with the session).

        A pod is Ready before PostgreSQL accepts connections when it has no readiness probe
        (Finch's has none; the first start runs initdb), so refused or dropped connections are
        retried for ``Timeouts.pod_start``; a refused login or a missing database is not."""
        url = self.database_url()
        session: list[PsycopgSession] = []

        def attempt() -> tuple[bool, str]:
            forward = self.kube.port_forward(self.pod_name, self.namespace, self.postgres_port)
            local = forward.__enter__()
            port = int(getattr(local, "local_port", local))
            try:
                session.append(PsycopgSession(rewrite_host(url, "127.0.0.1", port), connect_timeout=self.timeouts.probe,
                                              on_close=lambda: forward.__exit__(None, None, None)))
            except WriterCannotConnect as exc:       # the session closed the forward
                if _FINAL_LOGIN_ERRORS.search(str(exc)):
                    raise
                return False, str(exc)
            return True, "connected"

        try:
            self.kube.wait_for(f"the database in pod/{self.namespace}/{self.pod_name} to accept a connection",
                               attempt, timeout=self.timeouts.pod_start, interval=POLL_INTERVAL)
        except WaitTimeout as exc:
            raise WriterCannotConnect(f"{exc.last_state} (for {format_duration(self.timeouts.pod_start)})") from None
        return session[0]

    # -- backup ------------------------------------------------------------------------------
    def _free_name(self, kind: str, names) -> str:
        """The first of ``names`` that no object of ``kind`` has: a Job or toolbox of an earlier
        scenario of the same run may still be there, terminating."""
        tried = []
        for name in names:
            name = dns_name(name)
            if self._get(kind, name) is None:
                return name
            tried.append(name)
        raise ClusterError(f"no free {kind.lower()} name in namespace {self.namespace}: "
                           f"{', '.join(tried[:3])}, ... all exist")

    def take_backup(self, table: str) -> BackupRecord:
        check_table_name(table)
        cronjob = self._cronjob()
        container = backup_container(cronjob, self.container_name)
        script = " ".join(tuple(container.get("command") or ()) + tuple(container.get("args") or ()))
        base, first = f"{self.cronjob_name}-archconform-{self.run_id}", len(self._jobs) + 1
        name = self._free_name("Job", (f"{base}-{n}" for n in range(first, first + _NAME_ATTEMPTS)))
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
    def toolbox_pod(self, cronjob: dict, name: str | None = None) -> dict:
        """The toolbox: the backup Job's pod (template labels, annotations and spec) with only the
        backup container, sleeping instead of dumping, and ``DATABASE_URL`` added when the
        backup container reaches the database without one."""
        spec = copy.deepcopy(pod_spec_of(cronjob))
        wanted = backup_container(cronjob, self.container_name).get("name")
        container = next(c for c in spec["containers"] if c.get("name") == wanted)
        for key in ("args", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            container.pop(key, None)
        extra = self._toolbox_connection(backup_container(cronjob, self.container_name))
        if extra is not None:
            container["env"] = [*(container.get("env") or []), extra]
        container["command"] = ["sleep", str(int(self.timeouts.backup + self.timeouts.restore))]
        spec["containers"] = [container]
        spec.pop("initContainers", None)
        spec["restartPolicy"] = "Never"
        name = name or dns_name(f"{self.cronjob_name}-archconform-toolbox-{self.run_id}")
        # The template's labels and annotations too: NetworkPolicies that let the backup Job's
        # pods reach the database select them (Finch admits only app=postgres-backup).
        template = ((cronjob["spec"]["jobTemplate"].get("spec") or {}).get("template") or {}).get("metadata") or {}
        metadata = {"name": name, "namespace": self.namespace,
                    "labels": {**(template.get("labels") or {}), TOOLBOX_LABEL: "true"}}
        if template.get("annotations"):
            metadata["annotations"] = dict(template["annotations"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}

    def _ensure_toolbox(self, cronjob: dict) -> str:
        if self._toolbox is not None:
            return self._toolbox
        base = f"{self.cronjob_name}-archconform-toolbox-{self.run_id}"
        name = self._free_name("Pod", (base if n == 1 else f"{base}-{n}" for n in range(1, _NAME_ATTEMPTS + 1)))
        pod = self.toolbox_pod(cronjob, name)
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
    def _check_owned(self, objs: list[dict]) -> None:
        from ..kube.ownership import RUN_ID_LABEL, is_owned

        for obj in objs:
            if not is_owned(obj, self.run_id):
                md = obj.get("metadata") or {}
                raise ClusterError(
                    f"refusing to destroy the data of {self.workload_ref} in {self.namespace}: "
                    f"{str(obj.get('kind', '')).lower()}/{md.get('name')} is not this run's own (it lacks "
                    f"app.kubernetes.io/managed-by=archconform and {RUN_ID_LABEL}={self.run_id}); "
                    "the experiment deletes only what the run deployed")

    def disaster(self) -> None:
        """Delete the database pod and its data PVC(s): the data is gone."""
        workload = self._workload()
        claims = self._data_claims(workload)
        pod = self._current_pod()
        if pod is None:
            raise ClusterError(f"{self.workload_ref} in {self.namespace} has no pod whose data could be destroyed")
        live = {claim: self._get("PersistentVolumeClaim", claim) for claim, _ in claims}
        recreate = {}
        for claim, standalone in claims:
            if standalone:
                if live[claim] is None:
                    raise ClusterError(f"persistentvolumeclaim/{claim} of {self.workload_ref} not found in "
                                       f"namespace {self.namespace}")
                recreate[claim] = live[claim]
        if self.require_owned:
            self._check_owned([workload, *recreate.values()])
        self._before_disaster = {
            "pod": _uid(pod), "pod_name": pod["metadata"]["name"],
            "claims": {c: _uid(obj) for c, obj in live.items()},
            "recreate": {c: claim_manifest(obj) for c, obj in recreate.items()},
            "owned": {c: ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/managed-by")
                      == "archconform" for c, obj in recreate.items()},
        }
        for claim, _ in claims:
            self.kube.delete("PersistentVolumeClaim", claim, namespace=self.namespace)
        self.kube.delete("Pod", pod["metadata"]["name"], namespace=self.namespace)

    def _old_claims_gone(self) -> tuple[bool, str]:
        for claim, uid in self._before_disaster.get("claims", {}).items():
            if uid is not None and _uid(self._get("PersistentVolumeClaim", claim)) == uid:
                return False, f"old persistentvolumeclaim/{claim} still terminating"
        return True, "old claims deleted"

    def _recreate_claims(self) -> None:
        """Re-create the standalone claims from their manifests, as re-applying the system's
        manifests would: archconform's own through apply (it keeps them labelled as the run's),
        anyone else's through a plain create (labels as they were)."""
        for claim, manifest in self._before_disaster.get("recreate", {}).items():
            if self._get("PersistentVolumeClaim", claim) is not None:
                continue
            if self._before_disaster["owned"].get(claim):
                self.kube.apply([manifest])
            else:
                self.kube.create(manifest, namespace=self.namespace)

    def _recreated(self) -> tuple[bool, str]:
        """Old claims gone, a new pod Ready. (A pod recreated while its claim was still terminating
        stays Pending; the StatefulSet controller creates the missing claim for a Pending pod, the
        engine re-creates a standalone one.)"""
        gone, state = self._old_claims_gone()
        if not gone:
            return False, state
        old = self._before_disaster.get("pod")
        pods = [p for p in self._pods() if _uid(p) != old]
        if not pods:
            return False, ("old pod still terminating" if any(_uid(p) == old for p in self._pods())
                           else "pod not recreated yet")
        pod = max(pods, key=lambda p: (_ready(p), (p.get("metadata") or {}).get("creationTimestamp") or ""))
        return _ready(pod), f"pod/{pod['metadata']['name']}: {_pod_state(pod)}"

    def restore(self, backup: BackupRecord) -> RestoreRecord:
        started = Instant.now()
        budget = self.timeouts.restore
        phases = []

        def remaining() -> float:
            return float(max(1, round(budget - Instant.now().seconds_since(started))))

        try:
            if self._before_disaster.get("recreate"):
                self.kube.wait_for(f"the old claims of {self.workload_ref} in {self.namespace} to be deleted",
                                   self._old_claims_gone, timeout=remaining(), interval=POLL_INTERVAL)
                self._recreate_claims()
            self.kube.wait_for(f"the pod of {self.workload_ref} in {self.namespace} to be recreated on an empty "
                               "volume and ready", self._recreated, timeout=remaining(), interval=POLL_INTERVAL)
            phases.append(("re-init", Instant.now().seconds_since(started)))
            mark = Instant.now()
            self.kube.wait_for(f"the database behind {DATABASE_URL_VAR} to accept connections",
                               self._accepting, timeout=remaining(), interval=POLL_INTERVAL)
            phases.append(("start", Instant.now().seconds_since(mark)))
        except WaitTimeout as exc:
            raise RestoreFailed(f"restore of {backup.location} failed: {exc}") from None
        mark = Instant.now()
        path = backup.location.split(":", 1)[1]
        script = restore_script(backup.facts, path)
        result = self._sh(script, timeout=remaining(), shell=self._shell())
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


def run_against_workload(kube: Any, *, kind: str, namespace: str, name: str, cronjob: str, run_id: str,
                         promised_rpo: timedelta | None = None, promised_rto: timedelta | None = None,
                         worst_case_loss: timedelta | None = None, container: str | None = None,
                         database_url: str | None = None, interval: float | None = None,
                         before_backup: float | None = None, after_backup: float | None = None,
                         timeouts: Timeouts = DEFAULT_TIMEOUTS, require_owned: bool = True):
    """The experiment against the database ``kind``/``name`` (a StatefulSet or a Deployment) and
    its backup CronJob ``cronjob``, all in ``namespace``: the one call a live step makes.

    Like ``run_on_cluster``, plus Deployments, and by default the disaster only deletes what
    carries this run's ownership labels. The pace defaults to ``WRITER_INTERVAL``,
    ``BEFORE_BACKUP`` and ``AFTER_BACKUP``. Returns the ``ExperimentResult``.
    """
    from .experiment import run_experiment

    if kind not in WORKLOAD_KINDS:
        raise UsageError(f"the backup experiment runs against a StatefulSet or a Deployment (the database's pod "
                         f"and its volume), not a {kind}")
    workload = {"statefulset" if kind == "StatefulSet" else "deployment": name}
    # A table of its own per experiment: a database restored by an earlier experiment of the run
    # (Finch has an RPO and an RTO scenario) still holds that experiment's stamps.
    table = f"archconform_stamps_{secrets.token_hex(4)}"
    with ClusterEngine(kube, namespace=namespace, cronjob=cronjob, run_id=run_id, timeouts=timeouts,
                       container=container, database_url=database_url, require_owned=require_owned,
                       **workload) as engine:
        return run_experiment(engine, promised_rpo=promised_rpo, promised_rto=promised_rto,
                              worst_case_loss=worst_case_loss,
                              interval=WRITER_INTERVAL if interval is None else interval,
                              before_backup=BEFORE_BACKUP if before_backup is None else before_backup,
                              after_backup=AFTER_BACKUP if after_backup is None else after_backup,
                              table=table, timeouts=timeouts)
