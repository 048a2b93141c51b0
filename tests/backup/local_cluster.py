"""A stand-in for ``archconform.kube.Kube`` that plays API server, kubelet and StatefulSet
controller for one namespace, with a real PostgreSQL behind it.

It is not the project's fake API server (tests/fakekube, real HTTP through the official client);
it answers the facade's documented methods in-process so that ``ClusterEngine``'s whole flow,
shell snippets included, runs against a real server and real pg_dump/psql:

- a Job's container command runs locally when the Job is applied (its volume mount paths mapped
  to a local directory, ``DATABASE_URL`` resolved from the Secret), and the Job gets Complete or
  Failed with a terminated pod like the Job controller and kubelet would leave;
- ``exec`` runs the command locally with the pod's container env;
- deleting the Postgres pod after its PVC destroys the server's data; the "controller" then
  recreates PVC and pod, and the "entrypoint" re-inits an empty cluster and starts it;
- ``port_forward`` yields the server's local port.
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from archconform.backup import LocalPostgres
from archconform.errors import WaitTimeout

NS = "production"


@dataclass
class ExecResult:
    rc: int
    stdout: str
    stderr: str


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def postgres_objects(database_url: str, cronjob: dict) -> list[dict]:
    """The system's objects: Secret, StatefulSet with a claim template, and the backup CronJob."""
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "postgres", "namespace": NS},
           "spec": {"replicas": 1, "serviceName": "postgres", "selector": {"matchLabels": {"app": "postgres"}},
                    "template": {"metadata": {"labels": {"app": "postgres"}},
                                 "spec": {"containers": [{"name": "postgres", "image": "postgres:15-alpine"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                              "spec": {"accessModes": ["ReadWriteOnce"],
                                                       "resources": {"requests": {"storage": "20Gi"}}}}]}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "postgres-credentials", "namespace": NS},
              "data": {"database-url": base64.b64encode(database_url.encode()).decode()}}
    return [secret, sts, cronjob]


class LocalCluster:
    """See the module docstring. ``calls`` logs every facade call as (verb, kind, name)."""

    def __init__(self, pg: LocalPostgres, objects: list[dict], volume_dir: Path):
        self.pg = pg
        self.volume_dir = volume_dir
        self.objects: dict[tuple[str, str], dict] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.applied: list[dict] = []
        self._uids = itertools.count(1)
        for obj in objects:
            self._store(obj)
        self._store({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": "data-postgres-0", "namespace": NS}})
        self._store(self._postgres_pod())

    # -- storage ---------------------------------------------------------------------------
    def _store(self, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        md.setdefault("namespace", NS)
        md["uid"] = str(uuid.UUID(int=next(self._uids)))
        md["creationTimestamp"] = _now()
        self.objects[(obj["kind"], md["name"])] = obj
        return obj

    def _postgres_pod(self) -> dict:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "postgres-0", "labels": {"app": "postgres"}},
                "spec": {"containers": [{"name": "postgres"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}

    # -- the facade --------------------------------------------------------------------------
    def get(self, kind, name, *, namespace=None, api_version=None):
        self.calls.append(("get", kind, name))
        obj = self.objects.get((kind, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind, *, namespace=None, label_selector=None, field_selector=None):
        self.calls.append(("list", kind, label_selector or ""))
        want = dict(part.split("=", 1) for part in (label_selector or "").split(",") if part)
        return [copy.deepcopy(o) for (k, _), o in self.objects.items()
                if k == kind and all((o["metadata"].get("labels") or {}).get(a) == b for a, b in want.items())]

    def apply(self, objs, *, field_manager="archconform", labels=None):
        out = []
        for obj in objs:
            self.calls.append(("apply", obj["kind"], obj["metadata"]["name"]))
            self.applied.append(copy.deepcopy(obj))
            stored = self._store(obj)
            if obj["kind"] == "Job":
                self._run_job(stored)
            elif obj["kind"] == "Pod":
                stored["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
            out.append(copy.deepcopy(stored))
        return out

    def delete(self, kind, name, *, namespace=None):
        self.calls.append(("delete", kind, name))
        self.objects.pop((kind, name), None)
        if (kind, name) == ("Pod", "postgres-0"):
            self.pg.destroy_data()                           # the volume is gone with its claim
            if ("PersistentVolumeClaim", "data-postgres-0") not in self.objects:
                self._store({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "metadata": {"name": "data-postgres-0"}})
            self.pg.start()                                  # image entrypoint: initdb, create db, serve
            self._store(self._postgres_pod())

    def wait_for(self, description, check, *, timeout, interval=1.0):
        deadline = time.monotonic() + timeout
        while True:
            done, state = check()
            if done:
                return state
            if time.monotonic() > deadline:
                raise WaitTimeout(description, timeout, state)
            time.sleep(min(interval, 0.05))

    def exec(self, pod, namespace, command, *, container=None, timeout):
        self.calls.append(("exec", "Pod", pod))
        obj = self.objects[("Pod", pod)]
        env = self._env(obj["spec"]["containers"][0])
        proc = subprocess.run(self._mapped(command), env=self.pg.tool_env(env), capture_output=True, text=True,
                              timeout=timeout)
        return ExecResult(proc.returncode, proc.stdout, proc.stderr)

    @contextmanager
    def port_forward(self, pod, namespace, port):
        self.calls.append(("port_forward", "Pod", pod))
        yield self.pg.port

    # -- kubelet -----------------------------------------------------------------------------
    def _env(self, container: dict) -> dict[str, str]:
        env = {}
        for entry in container.get("env") or ():
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            elif "secretKeyRef" in entry.get("valueFrom", {}):
                ref = entry["valueFrom"]["secretKeyRef"]
                data = self.objects[("Secret", ref["name"])]["data"][ref["key"]]
                env[entry["name"]] = base64.b64decode(data).decode()
        return env

    def _mapped(self, command: list[str]) -> list[str]:
        return [re.sub(r"(?<![\w./-])/backup(?=/|$|[^\w.-])", str(self.volume_dir), part) for part in command]

    def _run_job(self, job: dict) -> None:
        container = job["spec"]["template"]["spec"]["containers"][0]
        job["status"] = {"startTime": _now()}
        argv = list(container.get("command") or ()) + list(container.get("args") or ())
        proc = subprocess.run(self._mapped(argv), env=self.pg.tool_env(self._env(container)),
                              capture_output=True, text=True, timeout=60)
        kind = "Complete" if proc.returncode == 0 else "Failed"
        job["status"]["conditions"] = [{"type": kind, "status": "True"}]
        self._store({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"{job['metadata']['name']}-x7k2p",
                                  "labels": {"job-name": job["metadata"]["name"]}},
                     "spec": copy.deepcopy(job["spec"]["template"]["spec"]),
                     "status": {"phase": "Succeeded" if proc.returncode == 0 else "Failed",
                                "containerStatuses": [{"name": container["name"], "state": {"terminated": {
                                    "exitCode": proc.returncode, "reason": "Error" if proc.returncode else "Completed",
                                    "message": proc.stderr[-400:]}}}]}})
