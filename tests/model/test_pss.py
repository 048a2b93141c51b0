"""Pod Security Standards. Source: k8s docs "Pod Security Standards" (Baseline and Restricted
tables: restricted fields and allowed values) and "Pod Security Admission" (namespace labels
pod-security.kubernetes.io/enforce; the default level is privileged)."""

import copy

import pytest

from archconform.errors import ManifestError
from archconform.model import pss

from .helpers import deployment

RESTRICTED_SC = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                 "seccompProfile": {"type": "RuntimeDefault"}, "capabilities": {"drop": ["ALL"]}}


def good():
    return deployment("n", "api", container_extra={"securityContext": copy.deepcopy(RESTRICTED_SC)})


def container(d):
    return d["spec"]["template"]["spec"]["containers"][0]


def controls(d, level):
    return {v.control for v in pss.violations(d, level)}


def test_hardened_pod_is_restricted():
    assert pss.violations(good(), "restricted") == []
    assert pss.highest_level(good()) == "restricted"


def test_minimal_pod_is_baseline_not_restricted():
    # docs: Baseline "Allows the default (minimally specified) Pod configuration"
    d = deployment("n", "api")
    assert pss.violations(d, "baseline") == []
    assert controls(d, "restricted") == {"Privilege Escalation", "Running as Non-root", "Seccomp", "Capabilities"}


@pytest.mark.parametrize("mutate,control,field", [
    (lambda s, c: s.update(hostNetwork=True), "Host Namespaces", "spec.hostNetwork"),
    (lambda s, c: s.update(hostPID=True), "Host Namespaces", "spec.hostPID"),
    (lambda s, c: c["securityContext"].update(privileged=True), "Privileged Containers", "spec.containers[0].securityContext.privileged"),
    (lambda s, c: c["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "Capabilities", "spec.containers[0].securityContext.capabilities.add"),
    (lambda s, c: s.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), "HostPath Volumes", "spec.volumes[0].hostPath"),
    (lambda s, c: c.update(ports=[{"containerPort": 80, "hostPort": 80}]), "Host Ports", "spec.containers[0].ports[0].hostPort"),
    (lambda s, c: c["securityContext"].update(seccompProfile={"type": "Unconfined"}), "Seccomp", "spec.containers[0].securityContext.seccompProfile.type"),
    (lambda s, c: c["securityContext"].update(procMount="Unmasked"), "/proc Mount Type", "spec.containers[0].securityContext.procMount"),
    (lambda s, c: c["securityContext"].update(seLinuxOptions={"type": "spc_t"}), "SELinux", "spec.containers[0].securityContext.seLinuxOptions.type"),
    (lambda s, c: c["securityContext"].update(seLinuxOptions={"user": "system_u"}), "SELinux", "spec.containers[0].securityContext.seLinuxOptions.user"),
    (lambda s, c: s.update(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}), "Sysctls", "spec.securityContext.sysctls[0].name"),
    (lambda s, c: c["securityContext"].update(appArmorProfile={"type": "Unconfined"}), "AppArmor", "spec.containers[0].securityContext.appArmorProfile.type"),
    (lambda s, c: c["securityContext"].update(windowsOptions={"hostProcess": True}), "HostProcess", "spec.containers[0].securityContext.windowsOptions.hostProcess"),
    (lambda s, c: c.update(livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}}), "Host Probes / Lifecycle Hooks", "spec.containers[0].livenessProbe.httpGet.host"),
])
def test_baseline_controls(mutate, control, field):
    d = good()
    mutate(d["spec"]["template"]["spec"], container(d))
    found = [(v.control, v.field) for v in pss.violations(d, "baseline")]
    assert (control, field) in found
    assert (control, field) in [(v.control, v.field) for v in pss.violations(d, "restricted")]


def test_baseline_allowed_values():
    d = good()
    c = container(d)
    c["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    c["ports"] = [{"containerPort": 80, "hostPort": 0}]
    c["securityContext"]["seLinuxOptions"] = {"type": "container_t", "level": "s0:c123,c456"}
    d["spec"]["template"]["spec"]["securityContext"] = {"sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]}
    c["livenessProbe"] = {"httpGet": {"host": "", "port": 80}}
    assert pss.violations(d, "restricted") == []
    c["securityContext"]["capabilities"]["add"] = ["CHOWN"]  # in the baseline list, not restricted
    assert controls(d, "baseline") == set() and controls(d, "restricted") == {"Capabilities"}


@pytest.mark.parametrize("mutate,control", [
    (lambda s, c: s.update(volumes=[{"name": "n", "nfs": {"server": "x", "path": "/"}}]), "Volume Types"),
    (lambda s, c: c["securityContext"].update(allowPrivilegeEscalation=True), "Privilege Escalation"),
    (lambda s, c: c["securityContext"].pop("allowPrivilegeEscalation"), "Privilege Escalation"),
    (lambda s, c: c["securityContext"].update(runAsNonRoot=False), "Running as Non-root"),
    (lambda s, c: c["securityContext"].update(runAsUser=0), "Running as Non-root user"),
    (lambda s, c: c["securityContext"].pop("seccompProfile"), "Seccomp"),
    (lambda s, c: c["securityContext"].update(capabilities={"drop": ["NET_RAW"]}), "Capabilities"),
])
def test_restricted_controls(mutate, control):
    d = good()
    mutate(d["spec"]["template"]["spec"], container(d))
    assert control in controls(d, "restricted")
    assert control not in controls(d, "baseline")


def test_pod_level_settings_satisfy_containers():
    # docs: runAsNonRoot and seccompProfile may be set at pod level; a container may not undo them
    d = deployment("n", "api", container_extra={"securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}},
                   spec_extra={"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}})
    assert pss.violations(d, "restricted") == []
    container(d)["securityContext"]["runAsNonRoot"] = False
    assert "Running as Non-root" in controls(d, "restricted")


def test_windows_pods_exempt_from_linux_only_controls():
    d = deployment("n", "api", spec_extra={"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}})
    assert pss.violations(d, "restricted") == []


def test_allowed_volume_types():
    d = good()
    d["spec"]["template"]["spec"]["volumes"] = [{"name": k, k: {}} for k in sorted(pss.RESTRICTED_VOLUMES)]
    assert pss.violations(d, "restricted") == []


def test_namespace_level_and_admission_findings():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    assert pss.namespace_level(ns) == "restricted"
    assert pss.namespace_level({"metadata": {"name": "x"}}) == "privileged"
    bad = deployment("n", "legacy")
    findings = pss.admission_findings([ns, good(), bad])
    assert len(findings) == 1 and "n/legacy" in findings[0] and "restricted" in findings[0]
    with pytest.raises(ManifestError):
        pss.violations(good(), "strict")
