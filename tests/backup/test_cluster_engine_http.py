"""The backup experiment through the REAL ``archconform.kube.Kube`` facade, the official client and
real HTTP: the fake API server (tests/fakekube) in front, a real PostgreSQL behind the
port-forward, real pg_dump/gzip/psql run as the backup Job's and the toolbox's commands.

The fake serves the API; ``ClusterSide`` plays what a cluster does behind it:

- Job controller + kubelet: a Job created from the CronJob runs its container's command on this
  machine (volume mounts mapped to local directories, env resolved from the fake's Secrets), then
  gets ``startTime``, a terminated pod and ``succeeded``/``Complete`` (or ``Failed``);
- kubelet for pods created through the API (the toolbox): Running and Ready;
- the StatefulSet / ReplicaSet controller, pvc-protection and the postgres image's entrypoint:
  a claim deleted while its pod runs stays Terminating; once the pod is gone the server dies, the
  claim goes and the data with it; the controller makes a new pod (and, for a StatefulSet, the
  missing claim); the kubelet starts it once its claim exists: an empty volume is initialised, the
  entrypoint creates ``POSTGRES_USER``/``POSTGRES_DB``, the pod becomes Ready;
- exec runs the command locally with the pod's container env; port-forward is proxied to the
  server; cluster networking sends every in-cluster database address to the server
  (``PGHOSTADDR`` and the port of ``...:5432`` URLs).

Three shapes: a StatefulSet whose backup reads ``DATABASE_URL`` (``run_on_cluster``), Finch's
own manifests (a Deployment with a standalone claim, the daily CronJob), and CSA Hello's own
manifests (a StatefulSet of 3, a CronJob that connects with ``-h``/``-U`` and ``PGPASSWORD``).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from archconform.backup import LocalPostgres, WriterCannotConnect, run_on_cluster
from archconform.backup import cluster as cluster_module
from archconform.backup.cluster import (ClusterEngine, connection_options, pg_dump_arguments,
                                        run_against_workload)
from archconform.errors import ClusterError
from archconform.manifests import render
from archconform.model.backup import worst_case_loss
from archconform.secrets import materialize
from tests.fakekube import ExecReply, FakeKube, objects
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401  (fixtures)
from tests.fakekube.store import now_rfc3339

from .conftest import TEST_PASSWORD, TEST_TIMEOUTS, cronjob

NS = "production"
INTERVAL = 0.05
FAST = dict(interval=INTERVAL, before_backup=0.4, after_backup=0.4, timeouts=TEST_TIMEOUTS)
OWNED = {"app.kubernetes.io/managed-by": "archconform", "archconform.io/run-id": "test-run"}
PVC_PROTECTION = "kubernetes.io/pvc-protection"
#: Seconds between two passes of the scripted controllers.
TICK = 0.02


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    """The engine polls a real cluster once a second; against the fake, 20 times a second."""
    monkeypatch.setattr(cluster_module, "POLL_INTERVAL", 0.05)


# -- the cluster behind the fake API server ----------------------------------------------------

def _labels_match(want: dict, obj: dict) -> bool:
    have = (obj.get("metadata") or {}).get("labels") or {}
    return all(have.get(k) == v for k, v in want.items())


def _ready_status() -> dict:
    return {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "ready": True, "state": {"running": {}}}]}


class ClusterSide:
    """Controllers, kubelet and network behind a FakeKube for one database workload (see the
    module docstring). ``timeline`` records what they did, ``jobs_run`` the Jobs as they ran."""

    def __init__(self, fake: FakeKube, pg: LocalPostgres, volumes: Path, *, namespace: str, kind: str,
                 name: str):
        self.fake, self.pg, self.volumes, self.ns = fake, pg, volumes, namespace
        self.kind, self.name = kind, name
        self.timeline: list[str] = []
        self.jobs_run: list[dict] = []
        self.job_pods: list[str] = []
        self.forwards: list[str] = []
        self.data_claim_uid: str | None = None
        self._seen_jobs: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        fake.on_exec(self._exec)
        fake.on_port_forward(self._forward)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "ClusterSide":
        pods = self._database_pods() if self._workload() else []
        if pods:                                       # already running (put by the test)
            self.data_claim_uid = self._claim_uid(pods[0])
            self._entrypoint(pods[0])
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake cluster controllers")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self._reconcile_jobs()
                self._reconcile_pods()
                self._reconcile_database()
            except Exception as exc:  # fails the test when the fake stops
                self.fake.errors.append(exc)
                return

    # -- the environment a container sees ---------------------------------------------------
    def _secret(self, name: str, key: str) -> str:
        data = (self.fake.get("Secret", name, self.ns) or {}).get("data") or {}
        return base64.b64decode(data[key]).decode()

    def env_of(self, container: dict) -> dict[str, str]:
        env = {}
        for entry in container.get("env") or ():
            ref = entry.get("valueFrom") or {}
            if "value" in entry:
                env[entry["name"]] = str(entry["value"])
            elif "secretKeyRef" in ref:
                env[entry["name"]] = self._secret(ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
        return env

    def _network(self, env: dict[str, str]) -> dict[str, str]:
        """Every in-cluster database address leads to the local server."""
        port = str(self.pg.port)
        out = {k: re.sub(r"(@[\w.-]+):5432(?=/|\?|$)", rf"\1:{port}", re.sub(r"\bport=5432\b", f"port={port}", v))
               for k, v in env.items()}
        out.setdefault("PGHOSTADDR", "127.0.0.1")
        out.setdefault("PGPORT", port)
        return out

    def _run(self, pod_spec: dict, container: dict, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        mounts = {}
        volumes = {v["name"]: v for v in pod_spec.get("volumes") or ()}
        for mount in container.get("volumeMounts") or ():
            volume = volumes.get(mount["name"]) or {}
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            local = self.volumes / (claim or f"emptydir-{mount['name']}")
            local.mkdir(parents=True, exist_ok=True)
            mounts[mount["mountPath"].rstrip("/")] = str(local)
        mapped = list(argv)
        for path in sorted(mounts, key=len, reverse=True):
            pattern = re.compile(r"(?<![\w./-])" + re.escape(path) + r"(?=/|$|[^\w.-])")
            mapped = [pattern.sub(mounts[path], part) for part in mapped]
        env = self.pg.tool_env(self._network(self.env_of(container)))
        return subprocess.run(mapped, env=env, capture_output=True, text=True, timeout=timeout)

    # -- exec and port-forward ---------------------------------------------------------------
    def _exec(self, call) -> ExecReply:
        spec = call.pod_obj["spec"]
        container = next(c for c in spec["containers"] if c["name"] == call.container)
        proc = self._run(spec, container, call.command, timeout=60)
        return ExecReply(stdout=proc.stdout, stderr=proc.stderr, rc=proc.returncode)

    def _forward(self, call):
        pods = [p for p in self._database_pods() if (p.get("status") or {}).get("phase") == "Running"]
        if call.namespace == self.ns and call.port == 5432 and call.pod in [p["metadata"]["name"] for p in pods] \
                and self.pg.running:
            self.forwards.append(call.pod)
            return ("127.0.0.1", self.pg.port)
        return None

    # -- Job controller and kubelet ----------------------------------------------------------
    def _reconcile_jobs(self) -> None:
        for job in self.fake.list("Job", self.ns):
            if job["metadata"]["uid"] not in self._seen_jobs:
                self._seen_jobs.add(job["metadata"]["uid"])
                self.fake.schedule(0, self._run_job, job)

    def _run_job(self, job: dict) -> None:
        name = job["metadata"]["name"]
        self.jobs_run.append(copy.deepcopy(job))
        self.fake.patch_status("Job", name, namespace=self.ns, status={"startTime": now_rfc3339(), "active": 1})
        spec = job["spec"]["template"]["spec"]
        container = spec["containers"][0]
        argv = list(container.get("command") or ()) + list(container.get("args") or ())
        proc = self._run(spec, container, argv, timeout=60)
        ok = proc.returncode == 0
        self.timeline.append(f"job/{name} exit {proc.returncode}")
        pod_name = f"{name}-{uuid.uuid4().hex[:5]}"
        self.job_pods.append(pod_name)
        self.fake.put({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": self.ns,
                         "labels": {"job-name": name, "batch.kubernetes.io/job-name": name},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                              "uid": job["metadata"]["uid"], "controller": True}]},
            "spec": copy.deepcopy(spec),
            "status": {"phase": "Succeeded" if ok else "Failed", "containerStatuses": [{
                "name": container["name"], "ready": False, "state": {"terminated": {
                    "exitCode": proc.returncode, "reason": "Completed" if ok else "Error",
                    "message": proc.stderr[-400:]}}}]}})
        self.fake.patch_status("Job", name, namespace=self.ns, status={
            "active": 0, ("succeeded" if ok else "failed"): 1, "completionTime": now_rfc3339(),
            "conditions": [{"type": "Complete" if ok else "Failed", "status": "True"}]})

    def _reconcile_pods(self) -> None:
        """The kubelet for pods created through the API (the toolbox): Running and Ready."""
        if self._workload() is None:
            return
        selector = self._selector()
        for pod in self.fake.list("Pod", self.ns):
            if (pod.get("status") or {}).get("phase") == "Pending" and not _labels_match(selector, pod):
                self.fake.patch_status("Pod", pod["metadata"]["name"], namespace=self.ns, status=_ready_status())

    # -- the database: controller, pvc-protection, kubelet, entrypoint --------------------------
    def _workload(self) -> dict | None:
        return self.fake.get(self.kind, self.name, self.ns)

    def _selector(self) -> dict:
        return self._workload()["spec"]["selector"]["matchLabels"]

    def _database_pods(self) -> list[dict]:
        pods = [p for p in self.fake.list("Pod", self.ns) if _labels_match(self._selector(), p)]
        if self.kind == "StatefulSet":
            pods = [p for p in pods if p["metadata"]["name"] == f"{self.name}-0"]
        return pods

    def _claims(self) -> list[str]:
        spec = self._workload()["spec"]
        if self.kind == "StatefulSet":
            return [f"{t['metadata']['name']}-{self.name}-0" for t in spec.get("volumeClaimTemplates") or []]
        return [v["persistentVolumeClaim"]["claimName"] for v in spec["template"]["spec"].get("volumes") or []
                if v.get("persistentVolumeClaim")]

    def _claim_uid(self, pod: dict) -> str | None:
        claim = self.fake.get("PersistentVolumeClaim", self._claims()[0], self.ns)
        return (claim or {}).get("metadata", {}).get("uid")

    def _new_claim(self, name: str) -> None:
        self.fake.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                       "metadata": {"name": name, "namespace": self.ns, "finalizers": [PVC_PROTECTION]},
                       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                       "status": {"phase": "Bound"}})
        self.timeline.append(f"controller created claim {name}")

    def _reconcile_database(self) -> None:
        if self._workload() is None:                  # not deployed (yet, or any more)
            return
        pods = self._database_pods()
        if not pods and self.pg.running:
            self.pg.stop(immediate=True)              # the server dies with its pod
            self.timeline.append("database pod deleted: server stopped")
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        for name in self._claims():
            claim = self.fake.get("PersistentVolumeClaim", name, self.ns)
            if claim and claim["metadata"].get("deletionTimestamp") and not running:
                self.fake.delete("PersistentVolumeClaim", name, namespace=self.ns)   # pvc-protection lets go
                if claim["metadata"]["uid"] == self.data_claim_uid:
                    self.pg.destroy_data()             # the volume goes with its claim
                    self.data_claim_uid = None
                    self.timeline.append(f"claim {name} deleted: the data is gone")
        if not pods:
            self._new_pod()
            return
        pod = pods[0]
        if (pod.get("status") or {}).get("phase") != "Pending":
            return
        claims = [self.fake.get("PersistentVolumeClaim", n, self.ns) for n in self._claims()]
        if self.kind == "StatefulSet" and any(c is None for c in claims):
            for name, claim in zip(self._claims(), claims):
                if claim is None:                      # the controller makes a Pending pod's claim
                    self._new_claim(name)
            return
        if any(c is None or c["metadata"].get("deletionTimestamp") for c in claims):
            return                                     # Pending: its claim is missing or terminating
        uid = claims[0]["metadata"]["uid"]
        if uid != self.data_claim_uid:
            self.pg.destroy_data()                     # a new volume is empty
        self.pg.start()                                # the entrypoint: initdb on an empty volume, serve
        self._entrypoint(pod)
        self.data_claim_uid = uid
        self.fake.patch_status("Pod", pod["metadata"]["name"], namespace=self.ns, status=_ready_status())
        self.timeline.append(f"pod {pod['metadata']['name']} ready on claim {self._claims()[0]}")

    def _new_pod(self) -> None:
        template = self._workload()["spec"]["template"]
        name = f"{self.name}-0" if self.kind == "StatefulSet" else f"{self.name}-7d4b9c-{uuid.uuid4().hex[:5]}"
        self.fake.put({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": self.ns, "labels": dict(template["metadata"]["labels"])},
                       "spec": copy.deepcopy(template["spec"]), "status": {"phase": "Pending"}})
        self.timeline.append(f"controller created pod {name}")

    def _entrypoint(self, pod: dict) -> None:
        """The postgres image's entrypoint on a fresh volume: POSTGRES_USER (a superuser) with
        POSTGRES_PASSWORD, and the database POSTGRES_DB."""
        import psycopg
        from psycopg import sql

        env = self.env_of(pod["spec"]["containers"][0])
        user = env.get("POSTGRES_USER", "postgres")
        database = env.get("POSTGRES_DB", user)
        with psycopg.connect(self.pg.url("postgres"), autocommit=True) as conn:
            if user != self.pg.user:
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone():
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                        sql.Identifier(user), sql.Literal(env["POSTGRES_PASSWORD"])))
            else:
                assert env.get("POSTGRES_PASSWORD", self.pg.password) == self.pg.password
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database),
                                                                          sql.Identifier(user)))


# -- putting a system into the fake --------------------------------------------------------------

def _put_secret(fake: FakeKube, secret: dict, **values: str) -> None:
    """A Secret as the API server keeps it: stringData turned into base64 data."""
    obj = copy.deepcopy(secret)
    string_data = {**obj.pop("stringData", {}), **values}
    obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()}
    fake.put(obj)


def _with_labels(obj: dict, labels: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("labels", {}).update(labels)
    return obj


def _put_pod(fake: FakeKube, name: str, namespace: str, template: dict) -> None:
    fake.put({"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": name, "namespace": namespace, "labels": dict(template["metadata"]["labels"])},
              "spec": copy.deepcopy(template["spec"]), "status": _ready_status()})


def _put_claim(fake: FakeKube, name: str, namespace: str, spec: dict | None = None, labels: dict | None = None) -> None:
    fake.put({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
              "metadata": {"name": name, "namespace": namespace, "finalizers": [PVC_PROTECTION],
                           **({"labels": labels} if labels else {})},
              "spec": spec or {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
              "status": {"phase": "Bound"}})


def _statefulset_system(fake: FakeKube, pg: LocalPostgres) -> None:
    """tests/backup's CronJob (DATABASE_URL from a Secret, pg_dump | gzip, /backup) beside a
    StatefulSet whose claim comes from its volumeClaimTemplates."""
    fake.put(objects.namespace(NS))
    _put_secret(fake, {"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "postgres-credentials", "namespace": NS}}, **{"database-url": pg.dsn})
    template = {"metadata": {"labels": {"app": "postgres"}},
                "spec": {"containers": [{"name": "postgres", "image": "postgres:15-alpine"}]}}
    fake.put({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "postgres", "namespace": NS},
              "spec": {"replicas": 1, "serviceName": "postgres", "selector": {"matchLabels": {"app": "postgres"}},
                       "template": template,
                       "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                           "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}]}})
    cj = cronjob()
    cj["metadata"].pop("uid")                       # the API server gives it one
    fake.put(cj)
    _put_claim(fake, "postgres-backup", NS)
    _put_claim(fake, "data-postgres-0", NS)
    _put_pod(fake, "postgres-0", NS, template)


def _request_lines(fake: FakeKube, namespace: str) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if f"/namespaces/{namespace}/" in r.path]


def _writes(fake: FakeKube, namespace: str) -> list[str]:
    return [line for line in _request_lines(fake, namespace) if line.split()[0] in ("POST", "PUT", "PATCH", "DELETE")]


def _assert_loss_window_matches_the_writers_record(result) -> None:
    writes = {s.seq: s for s in result.writes}
    restored = dict(result.restored)
    newest = max(restored)
    # Everything up to the dump's snapshot is back with the very stamps written, exactly the
    # rows after it are lost...
    assert sorted(restored) == list(range(1, newest + 1))
    assert restored == {seq: writes[seq].written_at for seq in range(1, newest + 1)}
    assert {s.seq for s in result.lost} == set(writes) - set(restored) == set(range(newest + 1, max(writes) + 1))
    assert result.verdict.lost_rows == len(result.lost) >= 3
    # ...the measured window is the writer's newest stamp minus the newest restored one, and it
    # starts within one writer interval of the backup Job's window.
    b, last, newest_stamp = result.backup, result.writes[-1], result.restored[-1][1]
    assert result.observed_rpo == last.written_at - newest_stamp
    assert b.started.wall - timedelta(seconds=INTERVAL) <= newest_stamp <= b.completed.wall
    assert result.observed_rpo <= last.written_at - b.started.wall + timedelta(seconds=INTERVAL)
    assert last.written_at - b.completed.wall <= result.observed_rpo
    # Every row committed before the Job was created is in the dump.
    assert all(s.seq in restored for s in result.writes if s.committed_at < b.started.wall)
    # RTO: disaster to the first successful query, after the restore's load.
    assert result.first_query.mono >= result.restore.completed.mono > result.disaster.mono
    # a timedelta keeps whole microseconds: equal to within one
    assert result.observed_rto.total_seconds() == pytest.approx(result.first_query.seconds_since(result.disaster),
                                                                abs=1e-6)


# -- the tests --------------------------------------------------------------------------------

def test_run_on_cluster_through_the_official_client_and_real_http(fake_kube, fake_cluster, pg, tmp_path):  # noqa: F811
    _statefulset_system(fake_kube, pg)
    cronjob_uid = fake_kube.get("CronJob", "postgres-backup", NS)["metadata"]["uid"]
    with ClusterSide(fake_kube, pg, tmp_path / "volumes", namespace=NS, kind="StatefulSet", name="postgres") as side:
        result = run_on_cluster(fake_cluster, namespace=NS, cronjob="postgres-backup", statefulset="postgres",
                                run_id="run-42", promised_rpo=timedelta(hours=1), promised_rto=timedelta(minutes=30),
                                **FAST)
    _assert_loss_window_matches_the_writers_record(result)
    assert result.verdict.passed, result.verdict.message()
    job_name = "postgres-backup-archconform-run-42-1"
    toolbox = "postgres-backup-archconform-toolbox-run-42"
    assert result.backup.detail == job_name and result.backup.facts.format == "plain+gzip"

    # The Job is what `kubectl create job --from=cronjob/postgres-backup` makes: the jobTemplate's
    # spec, an ownerReference to the CronJob by uid, and the manual-instantiation annotation...
    sent = fake_kube.requests_for("PATCH", f"/apis/batch/v1/namespaces/{NS}/jobs/{job_name}")
    assert len(sent) == 1 and sent[0].content_type == "application/apply-patch+yaml"
    assert sent[0].param("fieldManager") == "archconform"
    body = sent[0].body
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": "postgres-backup", "uid": cronjob_uid}]
    assert body["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert body["spec"] == cronjob()["spec"]["jobTemplate"]["spec"]
    # ...created by that request (no Job of that name existed: the GET before it was a 404), and
    # it ran the system's command for real: the Job controller saw exactly that object.
    assert [j["metadata"]["name"] for j in side.jobs_run] == [job_name]
    ran = side.jobs_run[0]
    assert ran["metadata"]["ownerReferences"][0]["uid"] == cronjob_uid
    assert ran["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert ran["metadata"]["labels"]["archconform.io/run-id"] == "test-run"
    assert side.timeline[0] == f"job/{job_name} exit 0"
    assert list((tmp_path / "volumes" / "postgres-backup").glob("backup-*.sql.gz"))

    # What went over the wire is what a real cluster needs, in this order.
    writes = _writes(fake_kube, NS)
    jobs, pods, pvcs = (f"/apis/batch/v1/namespaces/{NS}/jobs", f"/api/v1/namespaces/{NS}/pods",
                        f"/api/v1/namespaces/{NS}/persistentvolumeclaims")
    assert writes[:4] == [f"PATCH {jobs}/{job_name}", f"PATCH {pods}/{toolbox}",
                          f"DELETE {pvcs}/data-postgres-0", f"DELETE {pods}/postgres-0"]
    assert sorted(writes[4:]) == sorted([f"DELETE {jobs}/{job_name}", f"DELETE {pods}/{toolbox}",
                                         f"DELETE {pods}/{side.job_pods[0]}"])       # cleanup, the Job's pod too
    lines = _request_lines(fake_kube, NS)
    forwards = [line for line in lines if line.endswith("/portforward")]
    assert forwards and set(forwards) == {f"GET {pods}/postgres-0/portforward"} and side.forwards
    execs = [r for r in fake_kube.requests if r.path.endswith("/exec")]
    assert {r.path for r in execs} == {f"{pods}/{toolbox}/exec"}
    scripts = [r.query["command"][-1] for r in execs]
    assert any(s.startswith("find /backup -type f") for s in scripts)
    assert any("pg_isready" in s for s in scripts)
    assert any("gzip -dc" in s and "psql" in s and "ON_ERROR_STOP=1" in s for s in scripts)
    assert any("SELECT seq" in s for s in scripts)
    # The disaster was observed by the controllers: server stopped, data gone, a new claim and
    # pod from the StatefulSet controller, the pod ready on it.
    assert side.timeline[1:] == ["database pod deleted: server stopped",
                                 "claim data-postgres-0 deleted: the data is gone",
                                 "controller created pod postgres-0", "controller created claim data-postgres-0",
                                 "pod postgres-0 ready on claim data-postgres-0"]
    # Nothing the engine created is left; the system's objects are all still there.
    assert fake_kube.get("Job", job_name, NS) is None and fake_kube.get("Pod", toolbox, NS) is None
    assert fake_kube.list("Pod", NS, "job-name") == []
    for kind, name in (("CronJob", "postgres-backup"), ("StatefulSet", "postgres"), ("Secret", "postgres-credentials"),
                       ("PersistentVolumeClaim", "postgres-backup")):
        assert fake_kube.get(kind, name, NS) is not None
    # The database password never went to the API server.
    assert all(pg.password not in json.dumps(r.body) for r in fake_kube.requests if r.body is not None)


@pytest.fixture(scope="module")
def finch():
    return render("finch", "base")


def test_finchs_own_manifests_a_deployment_with_a_standalone_claim(fake_kube, fake_cluster, pg, tmp_path, finch):  # noqa: F811
    ns = "finch-production"
    fake_kube.put(objects.namespace(ns))
    secret, = materialize([finch.find("Secret", "postgres-credentials", ns)])
    _put_secret(fake_kube, _with_labels(secret, OWNED))
    deployment = _with_labels(finch.find("Deployment", "postgres", ns), OWNED)
    fake_kube.put(deployment)
    fake_kube.put(_with_labels(finch.find("CronJob", "postgres-backup", ns), OWNED))
    data_claim = finch.find("PersistentVolumeClaim", "postgres-data", ns)
    _put_claim(fake_kube, "postgres-data", ns, data_claim["spec"], {**data_claim["metadata"].get("labels", {}), **OWNED})
    _put_claim(fake_kube, "postgres-backup", ns, labels=OWNED)
    _put_pod(fake_kube, "postgres-5f7c9-abcde", ns, deployment["spec"]["template"])
    cron = finch.find("CronJob", "postgres-backup", ns)

    with ClusterSide(fake_kube, pg, tmp_path / "volumes", namespace=ns, kind="Deployment", name="postgres") as side:
        result = run_against_workload(fake_cluster, kind="Deployment", namespace=ns, name="postgres",
                                      cronjob="postgres-backup", run_id="test-run", promised_rpo=timedelta(hours=1),
                                      promised_rto=timedelta(minutes=30),
                                      worst_case_loss=worst_case_loss(cron["spec"]["schedule"]), **FAST)
    _assert_loss_window_matches_the_writers_record(result)
    # Measured: seconds of loss against the 1h RPO. The schedule (daily at 02:00) breaks it.
    assert result.observed_rpo < timedelta(seconds=5) and result.observed_rto < timedelta(seconds=30)
    assert not result.verdict.passed
    assert len(result.verdict.reasons) == 1
    assert result.verdict.reasons[0].startswith("the backup schedule can lose up to 24h0m0s (its worst case 24h0m0s")
    assert result.engine == f"cluster: deployment/postgres and cronjob/postgres-backup in {ns}"

    pods, pvcs = f"/api/v1/namespaces/{ns}/pods", f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    writes = _writes(fake_kube, ns)
    disaster = writes.index(f"DELETE {pvcs}/postgres-data")
    assert writes[disaster + 1] == f"DELETE {pods}/postgres-5f7c9-abcde"
    # Nothing re-creates a Deployment's claim but the restore procedure: from its manifest, as
    # re-applying the system would (server-side apply, still labelled as the run's).
    assert writes[disaster + 2] == f"PATCH {pvcs}/postgres-data"
    recreated = fake_kube.requests_for("PATCH", f"{pvcs}/postgres-data")[0].body
    assert recreated["spec"] == data_claim["spec"] and "volumeName" not in recreated["spec"]
    assert recreated["metadata"]["labels"]["archconform.io/run-id"] == "test-run"
    assert "finalizers" not in recreated["metadata"] and "status" not in recreated
    # The toolbox is the backup Job's pod: Finch's NetworkPolicy admits only app=postgres-backup
    # (and finch-backend) to PostgreSQL, so without the template's labels it could not restore.
    toolbox = fake_kube.requests_for("PATCH", f"{pods}/postgres-backup-archconform-toolbox-test-run")[0].body
    assert toolbox["metadata"]["labels"]["app"] == "postgres-backup"
    assert toolbox["metadata"]["labels"]["archconform.io/backup-toolbox"] == "true"
    # The writer went through a port-forward to the old pod; the new pod is another one.
    assert side.forwards == ["postgres-5f7c9-abcde"]
    new_pods = [p["metadata"]["name"] for p in fake_kube.list("Pod", ns) if p["metadata"]["labels"].get("app") == "postgres"]
    assert len(new_pods) == 1 and new_pods[0] != "postgres-5f7c9-abcde"
    assert side.timeline[-1] == f"pod {new_pods[0]} ready on claim postgres-data"
    assert "claim postgres-data deleted: the data is gone" in side.timeline
    password = base64.b64decode(fake_kube.get("Secret", "postgres-credentials", ns)["data"]["password"]).decode()
    assert all(password not in json.dumps(r.body) for r in fake_kube.requests if r.body is not None)


def test_csa_hellos_own_manifests_pg_dump_with_host_user_and_pgpassword(fake_kube, fake_cluster, pg, tmp_path):  # noqa: F811
    ns = "storage-system"
    csa = render("csa_hello", "base")
    fake_kube.put(objects.namespace(ns))
    secret, = materialize([csa.find("Secret", "postgres-secrets", ns)])
    _put_secret(fake_kube, _with_labels(secret, OWNED), password=TEST_PASSWORD)
    sts = _with_labels(csa.find("StatefulSet", "postgres", ns), OWNED)
    fake_kube.put(sts)
    fake_kube.put(_with_labels(csa.find("CronJob", "postgres-backup", ns), OWNED))
    _put_claim(fake_kube, "postgres-backups", ns, labels=OWNED)
    for i in range(3):     # three independent databases, as the document has them; only -0 is backed up
        _put_claim(fake_kube, f"postgres-data-postgres-{i}", ns)
        _put_pod(fake_kube, f"postgres-{i}", ns, sts["spec"]["template"])

    with ClusterSide(fake_kube, pg, tmp_path / "volumes", namespace=ns, kind="StatefulSet", name="postgres"):
        result = run_against_workload(fake_cluster, kind="StatefulSet", namespace=ns, name="postgres",
                                      cronjob="postgres-backup", run_id="test-run", **FAST)
    _assert_loss_window_matches_the_writers_record(result)
    assert result.verdict.passed
    # The toolbox reaches the database the way the CronJob's pg_dump does: host, user and
    # database from its options, the password from PGPASSWORD of its own env (never in the spec).
    toolbox = fake_kube.requests_for("PATCH", f"/api/v1/namespaces/{ns}/pods/postgres-backup-archconform-toolbox")
    env = toolbox[0].body["spec"]["containers"][0]["env"]
    assert {"name": "DATABASE_URL",
            "value": "dbname=postgres host=postgres-0.postgres.storage-system.svc user=postgres"} in env
    assert {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "postgres-secrets", "key": "password"}}} in env
    assert all(TEST_PASSWORD not in json.dumps(r.body) for r in fake_kube.requests if r.body is not None)
    # Ordinal 0 (the pod the CronJob dumps) was destroyed and restored; 1 and 2 were left alone.
    deletes = [line for line in _writes(fake_kube, ns) if line.startswith("DELETE") and "archconform" not in line]
    assert deletes == [f"DELETE /api/v1/namespaces/{ns}/persistentvolumeclaims/postgres-data-postgres-0",
                       f"DELETE /api/v1/namespaces/{ns}/pods/postgres-0"]


def test_the_writer_waits_for_a_ready_pod_whose_database_does_not_accept_connections_yet(fake_kube, fake_cluster,  # noqa: F811
                                                                                          pg, tmp_path):
    # A pod without a readiness probe is Ready while initdb still runs (Finch's postgres): the
    # first connections through the port-forward are refused; the writer waits, it does not fail.
    _statefulset_system(fake_kube, pg)
    fake_kube.on_port_forward(lambda call: ("127.0.0.1", pg.port))
    pg.stop()
    fake_kube.schedule(0.6, pg.launch)
    engine = ClusterEngine(fake_cluster, namespace=NS, cronjob="postgres-backup", statefulset="postgres",
                           run_id="test-run", timeouts=TEST_TIMEOUTS)
    session = engine.connect()
    try:
        assert session.execute("SELECT 1") == [(1,)]
    finally:
        session.close()
    assert len(fake_kube.requests_for("GET", f"/api/v1/namespaces/{NS}/pods/postgres-0/portforward")) >= 2
    # A refused login is final: one attempt, at once, password redacted.
    wrong = re.sub(r":[^:@/]+@", ":wrong-password@", pg.dsn)
    engine = ClusterEngine(fake_cluster, namespace=NS, cronjob="postgres-backup", statefulset="postgres",
                           run_id="test-run", timeouts=TEST_TIMEOUTS, database_url=wrong)
    before = len(fake_kube.requests_for("GET", "/portforward"))
    started = time.monotonic()
    with pytest.raises(WriterCannotConnect, match="password authentication failed") as info:
        engine.connect()
    assert time.monotonic() - started < 3 and "wrong-password" not in str(info.value)
    assert len(fake_kube.requests_for("GET", "/portforward")) == before + 1


def test_the_disaster_refuses_a_workload_that_is_not_the_runs_own(fake_kube, fake_cluster, tmp_path):  # noqa: F811
    fake_kube.put(objects.namespace(NS))
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "postgres"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "db-data"}}]}}
    fake_kube.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "db", "namespace": NS},
                   "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": template}})
    _put_claim(fake_kube, "db-data", NS)
    _put_pod(fake_kube, "db-1", NS, template)
    engine = ClusterEngine(fake_cluster, namespace=NS, cronjob="db-backup", deployment="db", run_id="test-run",
                           timeouts=TEST_TIMEOUTS, require_owned=True)
    with pytest.raises(ClusterError, match="refusing to destroy the data of deployment/db in production: "
                                           "deployment/db is not this run's own"):
        engine.disaster()
    assert _writes(fake_kube, NS) == []
    # Labelled by another run: still not this run's.
    fake_kube.update("Deployment", "db", namespace=NS, patch={"metadata": {"labels": {**OWNED, "archconform.io/run-id": "other"}}})
    with pytest.raises(ClusterError, match="is not this run's own"):
        engine.disaster()
    # The workload is the run's but the claim to delete and re-create is not.
    fake_kube.update("Deployment", "db", namespace=NS, patch={"metadata": {"labels": OWNED}})
    with pytest.raises(ClusterError, match="persistentvolumeclaim/db-data is not this run's own"):
        engine.disaster()
    assert _writes(fake_kube, NS) == []


def test_pg_dump_connection_options_are_read_as_libpq_reads_them():
    finch_script = ["/bin/bash", "-c", "pg_dump $DATABASE_URL | gzip > /backup/backup-$(date +%Y%m%d).sql.gz"]
    assert pg_dump_arguments(finch_script) == ["$DATABASE_URL"]
    csa = ["/bin/bash", "-c", 'set -euo pipefail; pg_dump -h postgres-0.postgres.storage-system.svc -U postgres '
                              'postgres | gzip > "/backup/postgres-$(date -u +%Y%m%dT%H%M%SZ).sql.gz"']
    assert connection_options(pg_dump_arguments(csa)) == {
        "host": "postgres-0.postgres.storage-system.svc", "user": "postgres", "dbname": "postgres"}
    exec_form = ["pg_dump", "-Fc", "--host=db", "-p5433", "--username", "app", "-f", "/backup/x.dump", "-t", "t1", "shop"]
    assert connection_options(pg_dump_arguments(exec_form)) == {"host": "db", "port": "5433", "user": "app",
                                                                "dbname": "shop"}
    assert connection_options(["-d", "postgresql://u@h/db", "other"]) == {"dbname": "postgresql://u@h/db"}
    assert pg_dump_arguments(["/bin/sh", "-c", "tar czf /backup/x.tgz /data"]) is None
    assert connection_options(pg_dump_arguments(["sh", "-c", "pg_dumpall -l template1 -h $PGHOST > /b/all.sql"])) == {
        "dbname": "template1", "host": "$PGHOST"}
