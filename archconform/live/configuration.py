"""Configuration and secrets on a live cluster: values really reach the containers as promised,
and no pod spec carries a secret as a literal.

How a ConfigMap or Secret is consumed is read from the live pod spec (``envFrom``,
``env[].valueFrom``, ``volumes`` and ``volumeMounts``); what the container sees is asked from
inside it through the stand-in workload's ``/config?env=NAME`` and ``/config?file=PATH``
(workload/README.md). The stand-in never returns a value that looks secret (it answers ``***``
and the length), so secret values are compared by length there, and by equality in this process
where a value did come back, without ever being printed: messages and evidence name keys,
variables and paths, never values (and go through ``archconform.report.redact`` anyway).

A literal secret in a pod spec is an ``env[].value`` that is a secret by name (PASSWORD, TOKEN,
SECRET, KEY, ...), a URL with a password in it, or equal to a value of a Secret of the same
namespace.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import quote

from archconform.errors import ClusterError, PromiseBroken, UsageError
from archconform.settings import Timeouts

from . import probes
from .probes import evidence, pod_ref, verdict

#: Environment names whose values are secrets (the stand-in redacts the same names).
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|TOKEN|SECRET|CREDENTIAL|PRIVATE|APIKEY|API_KEY|ACCESS_KEY"
    r"|(^|_)KEY($|_)|_KEY\d*$|(^|_)PASS($|_)", re.IGNORECASE)
#: ``scheme://user:password@host``: the password part (masked by the stand-in as ``***``).
URL_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^/@:\s]*:)(?P<password>[^/@\s]+)@",
                             re.IGNORECASE)
#: Secret values shorter than this are not looked for in literals (they would match by chance).
MIN_SECRET_LENGTH = 6
#: Keys of a Secret whose values are not secrets themselves (a user name, a database name, a
#: host): a pod spec may spell them out (POSTGRES_USER: app_user) without leaking anything.
NOT_SECRET_KEY = re.compile(r"(?i)^(user|username|user-name|login|db|database|dbname|host|"
                            r"hostname|port|name)$")


def mask_url_credentials(text: str) -> str:
    """What the stand-in answers for a value with a URL password in it."""
    return URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}***@", text)


def _same_namespace(ref: str, namespace: str, kind: str) -> str:
    ns, _, name = ref.rpartition("/")
    if ns and ns != namespace:
        raise UsageError(f"a pod can only use a {kind} of its own namespace {namespace!r}, "
                         f"not {ref!r}")
    return name


def _secret_data(secret: dict) -> dict[str, bytes]:
    out = {k: base64.b64decode(v or "") for k, v in (secret.get("data") or {}).items()}
    out.update({k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return out


@dataclass
class Observation:
    """One key (or variable) checked in one container."""

    where: str
    item: str
    ok: bool
    detail: str

    def describe(self) -> str:
        return f"{self.where}: {self.item}: {'ok' if self.ok else 'WRONG'} ({self.detail})"


class ConfigChecks:
    """What the containers of a workload see of its ConfigMaps and Secrets."""

    def __init__(self, kube: Any, *, timeouts: Timeouts | None = None) -> None:
        self.kube = kube
        self.timeouts = timeouts or kube.timeouts

    # -- asking the container ----------------------------------------------------------------

    def _ask(self, pod: dict, container: dict, query: str) -> tuple[int | None, dict]:
        answer = probes.in_pod_http(self.kube, pod, f"/config?{query}",
                                    port=probes.workload_port(container),
                                    container=container.get("name"), timeouts=self.timeouts)
        data = answer.json()
        if answer.status is None or not isinstance(data, dict):
            raise ClusterError(f"{answer.describe()}: expected the stand-in's /config answer")
        return answer.status, data

    def env(self, pod: dict, container: dict, name: str) -> dict:
        _, data = self._ask(pod, container, "env=" + quote(name, safe=""))
        return data

    def file(self, pod: dict, container: dict, path: str) -> tuple[int | None, dict]:
        return self._ask(pod, container, "file=" + quote(path, safe="/"))

    # -- helpers -------------------------------------------------------------------------------

    def _targets(self, kind: str, ref: str, container: str) -> list[tuple[dict, dict]]:
        out = []
        for pod in probes.workload_pods(self.kube, kind, ref):
            out.append((pod, probes.containers_of(pod, container)[0]))
        return out

    def _live(self, kind: str, namespace: str, name: str) -> dict:
        obj = self.kube.get(kind, name, namespace=namespace)
        if obj is None:
            raise PromiseBroken(f"{kind.lower()}/{namespace}/{name} does not exist on the cluster")
        return obj

    @staticmethod
    def _judge(promise: str, found: list[Observation]) -> None:
        evidence(promise, "\n".join(o.describe() for o in found) or "nothing to check")
        bad = [o for o in found if not o.ok]
        verdict("failed" if bad else "passed", promised=promise,
                measured=f"{len(found) - len(bad)} of {len(found)} as promised")
        if bad:
            raise PromiseBroken(f"promised: {promise}; {len(bad)} of {len(found)} checks failed:\n"
                                + "\n".join(o.describe() for o in bad))

    @staticmethod
    def _compare_plain(answer: dict, expected: str) -> tuple[bool, str]:
        """A non-secret value the stand-in returned (URL passwords masked on both sides)."""
        got = answer.get("value")
        if answer.get("redacted") and got == "***":
            ok = answer.get("length") == len(expected.encode())
            return ok, f"redacted by the stand-in; length {answer.get('length')} vs {len(expected.encode())}"
        want = mask_url_credentials(expected)
        return got == want, "same value" if got == want else "a different value"

    # -- ConfigMaps ------------------------------------------------------------------------------

    def configmap_env(self, kind: str, ref: str, container: str, configmap: str) -> list[Observation]:
        """Every key of the ConfigMap the container takes into its environment has its value."""
        ns, _ = probes.split_ref(ref)
        name = _same_namespace(configmap, ns, "ConfigMap")
        data = self._live("ConfigMap", ns, name).get("data") or {}
        found: list[Observation] = []
        for pod, c in self._targets(kind, ref, container):
            where = f"{pod_ref(pod)} container {c['name']}"
            variables = _env_from(c, "configMapRef", "configMapKeyRef", name, data)
            if not variables:
                found.append(Observation(where, f"ConfigMap {name}", False,
                                         "the container takes nothing of it into its environment "
                                         "(no envFrom configMapRef, no configMapKeyRef)"))
                continue
            for variable, key in variables:
                answer = self.env(pod, c, variable)
                if key not in data:
                    found.append(Observation(where, variable, False, f"the ConfigMap has no key {key!r}"))
                elif not answer.get("set"):
                    found.append(Observation(where, variable, False, "not set in the container"))
                else:
                    ok, detail = self._compare_plain(answer, str(data[key]))
                    found.append(Observation(where, f"{variable} (key {key})", ok, detail))
        self._judge(f"container {container} of {kind} {ref} sees ConfigMap {name} as environment "
                    f"variables", found)
        return found

    def configmap_files(self, kind: str, ref: str, container: str, configmap: str,
                        path: str) -> list[Observation]:
        """The ConfigMap is mounted at ``path`` and every projected key reads back its value."""
        ns, _ = probes.split_ref(ref)
        name = _same_namespace(configmap, ns, "ConfigMap")
        data = self._live("ConfigMap", ns, name).get("data") or {}
        return self._mounted_files(kind, ref, container, "ConfigMap", name, path, data,
                                   lambda answer, key: self._compare_plain(answer, str(data.get(key, ""))))

    def _mounted_files(self, kind: str, ref: str, container: str, source_kind: str, name: str,
                       path: str, data: dict, compare) -> list[Observation]:
        """Every projected key of a ConfigMap or Secret volume mounted at ``path`` reads back as
        ``compare(answer, key)`` judges it, in every pod of the workload."""
        volume, name_field = ("configMap", "name") if source_kind == "ConfigMap" else ("secret", "secretName")
        found: list[Observation] = []
        for pod, c in self._targets(kind, ref, container):
            where = f"{pod_ref(pod)} container {c['name']}"
            files = _mounted(pod, c, volume, name_field, name, path, data)
            if isinstance(files, str):
                found.append(Observation(where, f"{source_kind} {name}", False, files))
                continue
            for key, file_path in files:
                status, answer = self.file(pod, c, file_path)
                if status != 200 or not answer.get("exists"):
                    found.append(Observation(where, f"{file_path} (key {key})", False,
                                             f"not readable (HTTP {status})"))
                    continue
                ok, detail = compare(answer, key)
                found.append(Observation(where, f"{file_path} (key {key})", ok, detail))
        self._judge(f"container {container} of {kind} {ref} sees {source_kind} {name} as files in "
                    f"{path}", found)
        return found

    # -- Secrets ---------------------------------------------------------------------------------

    @staticmethod
    def _compare_secret(answer: dict, expected: bytes) -> tuple[bool, str]:
        """Compare without printing: by length when redacted, by equality otherwise."""
        got = answer.get("value")
        if got == "***":
            ok = answer.get("length") == len(expected)
            return ok, (f"{answer.get('length')} bytes (redacted by the stand-in), "
                        f"the Secret holds {len(expected)}")
        if answer.get("redacted"):  # a URL whose password the stand-in masked
            ok = got == mask_url_credentials(expected.decode("utf-8", "replace"))
            return ok, ("the same value as the Secret (password masked on both sides)" if ok
                        else "a different value than the Secret")
        ok = isinstance(got, str) and got.encode() == expected
        return ok, "the same value as the Secret" if ok else "a different value than the Secret"

    def secret_files(self, kind: str, ref: str, container: str, secret: str,
                     path: str) -> list[Observation]:
        """The Secret is mounted at ``path`` and every projected key holds its value."""
        ns, _ = probes.split_ref(ref)
        name = _same_namespace(secret, ns, "Secret")
        data = _secret_data(self._live("Secret", ns, name))
        found = self._mounted_files(kind, ref, container, "Secret", name, path, data,
                                    lambda answer, key: self._compare_secret(answer, data.get(key, b"")))
        return found

    def secret_env(self, kind: str, ref: str, container: str, secret: str, key: str,
                   variable: str) -> list[Observation]:
        """The variable comes from the Secret's key (valueFrom.secretKeyRef) and holds its value."""
        ns, _ = probes.split_ref(ref)
        name = _same_namespace(secret, ns, "Secret")
        data = _secret_data(self._live("Secret", ns, name))
        found: list[Observation] = []
        for pod, c in self._targets(kind, ref, container):
            where = f"{pod_ref(pod)} container {c['name']}"
            sources = dict(_env_from(c, "secretRef", "secretKeyRef", name, data))
            if sources.get(variable) != key:
                found.append(Observation(where, variable, False,
                                         f"not taken from key {key!r} of Secret {name} in the pod "
                                         f"spec (it is {_env_source(c, variable)})"))
                continue
            if key not in data:
                found.append(Observation(where, variable, False, f"the Secret has no key {key!r}"))
                continue
            answer = self.env(pod, c, variable)
            if not answer.get("set"):
                found.append(Observation(where, variable, False, "not set in the container"))
                continue
            ok, detail = self._compare_secret(answer, data[key])
            found.append(Observation(where, variable, ok, detail))
        self._judge(f"container {container} of {kind} {ref} sees key {key} of Secret {name} as "
                    f"{variable}", found)
        return found


def _env_from(container: dict, ref_field: str, key_field: str, name: str,
              data: dict) -> list[tuple[str, str]]:
    """(variable, key) pairs the container takes from the named ConfigMap/Secret."""
    pairs: list[tuple[str, str]] = []
    for source in container.get("envFrom") or []:
        target = source.get(ref_field) or {}
        if target.get("name") == name:
            prefix = source.get("prefix") or ""
            pairs += [(prefix + k, k) for k in sorted(data)
                      if re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", prefix + k)]
    for env in container.get("env") or []:
        target = (env.get("valueFrom") or {}).get(key_field) or {}
        if target.get("name") == name and target.get("key"):
            pairs.append((env["name"], target["key"]))
    return pairs


def _env_source(container: dict, variable: str) -> str:
    for env in container.get("env") or []:
        if env.get("name") == variable:
            if "value" in env:
                return "a literal value"
            return f"valueFrom {sorted((env.get('valueFrom') or {}).keys())}"
    return "not defined"


def _mounted(pod: dict, container: dict, source: str, name_field: str, name: str, path: str,
             data: dict) -> list[tuple[str, str]] | str:
    """(key, file path) pairs of the named ConfigMap/Secret mounted at ``path`` by the
    container, or why not (a string)."""
    volumes = [v for v in (pod.get("spec") or {}).get("volumes") or []
               if (v.get(source) or {}).get(name_field) == name]
    if not volumes:
        return f"no volume of the pod takes {source} {name}"
    mounts = {m.get("name"): m for m in container.get("volumeMounts") or []}
    for volume in volumes:
        mount = mounts.get(volume.get("name"))
        if mount is None:
            continue
        mount_path = str(mount.get("mountPath", "")).rstrip("/") or "/"
        if mount_path != path.rstrip("/"):
            return f"volume {volume.get('name')} is mounted at {mount_path}, not at {path}"
        items = (volume.get(source) or {}).get("items")
        if items:
            return [(i["key"], f"{mount_path}/{i.get('path', i['key'])}") for i in items]
        if mount.get("subPath"):
            return [(mount["subPath"], mount_path)]
        return [(k, f"{mount_path}/{k}") for k in sorted(data)]
    return f"the container does not mount the volume that takes {source} {name}"


# ------------------------------------------------------------------------------------------------
# literal secrets in pod specs
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Literal:
    pod: str
    container: str
    variable: str
    why: str

    def describe(self) -> str:
        return f"{self.pod} container {self.container}: env {self.variable} is {self.why}"


def literal_secrets(kube: Any, namespaces: Iterable[str]) -> tuple[list[Literal], int]:
    """Literal env values in the pods of the namespaces that are secrets; and how many literals
    were looked at."""
    found: list[Literal] = []
    looked = 0
    for ns in namespaces:
        known = [v for s in kube.list("Secret", namespace=ns)
                 if s.get("type") != "kubernetes.io/service-account-token"
                 for k, v in _secret_data(s).items()
                 if len(v) >= MIN_SECRET_LENGTH and not NOT_SECRET_KEY.match(k)]
        for pod in kube.list("Pod", namespace=ns):
            spec = pod.get("spec") or {}
            for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
                for env in c.get("env") or []:
                    if "value" not in env or env.get("value") in (None, ""):
                        continue
                    looked += 1
                    value, name = str(env["value"]), str(env.get("name", ""))
                    why = None
                    if any(v and v in value.encode() for v in known):
                        why = "the value of a Secret of the namespace, written into the pod spec"
                    elif URL_CREDENTIALS.search(value):
                        why = "a URL with a password in it"
                    elif SECRET_NAME.search(name):
                        why = "a secret by its name, given as a literal value (not valueFrom)"
                    if why:
                        found.append(Literal(pod_ref(pod), c.get("name", "?"), name, why))
    return found, looked


def no_literal_secrets(kube: Any, namespaces: Iterable[str]) -> int:
    """PromiseBroken naming every literal secret (never its value); returns how many literal env
    values were looked at."""
    namespaces = list(namespaces)
    found, looked = literal_secrets(kube, namespaces)
    evidence("literal secrets in the pod specs of the system",
             f"{looked} literal env values in the pods of {', '.join(namespaces)}\n"
             + ("\n".join(f.describe() for f in found) or "none is a secret"))
    verdict("failed" if found else "passed", promised="no secret as a literal in a pod spec",
            measured=f"{len(found)} of {looked} literal env values are secrets")
    if found:
        raise PromiseBroken(f"promised secrets never appear in pod specs as literal values; "
                            f"{len(found)} do:\n" + "\n".join(f.describe() for f in found))
    return looked
