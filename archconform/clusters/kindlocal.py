"""kind with a node image built here (``--cluster kind --kind-node-image local``): the pieces.

- ``privileged_works(image)``: whether ``docker run --privileged`` works on this machine. Where
  it does not ("unable to apply caps": the bounding set lacks CAP_SYS_RESOURCE), kind is given a
  ``docker`` front end (``write_front_end``) that runs node containers with the set of options
  that works instead: every capability but CAP_SYS_RESOURCE, seccomp, AppArmor and the masked
  /proc and /sys paths off, every device allowed in the node's device cgroup, /dev/kmsg, and the
  host's cgroup v1 tree with the host cgroup namespace (the node's entrypoint then confines the
  node to its own subtree). ``docker exec --privileged`` loses the flag (an exec has the node's
  capabilities already). Everything else goes to Docker unchanged.
- ``config(root)``: clusters/kind.yaml plus what this node image needs: no default CNI (kindnetd
  cannot be built here), the kubelet on cgroup v1 (``failCgroupV1: false``), and the etcd tag of
  the etcd that was built (kubeadm v1.37.2 would ask for 3.7.0-0).
- ``pod_network_script(...)``: the pod network kindnetd would have made: a ptp + host-local +
  portmap CNI configuration from each node's podCIDR, and a route to every other node's podCIDR
  through that node's address. Pod traffic never leaves the kind Docker network.
- NetworkPolicy: kube-network-policies (clusters/addons/network-policies-local) judges the first
  packet of every connection in user space, reading it from netfilter queue ``NFQUEUE_ID``. It
  asks the kernel for that queue with an nftables ``queue`` rule, which this machine's kernel
  refuses (no CONFIG_NFT_QUEUE), so its own rules never load; ``pod_network_script`` puts the
  same packets in the same queue with iptables' NFQUEUE target instead (``queue_rules``): new
  connections from or to the pod network, leaving out root's own traffic on the node (kubelet
  probes) as its nftables rules do. ``--queue-bypass``: until the engine listens, packets pass
  (as upstream's --fail-open); the default-deny self-check is what tells enforcement.
- ``COREDNS_NO_UPSTREAM``: CoreDNS answers cluster names only; its ``forward`` to the node's
  resolver (Docker's embedded DNS, which asks the machine's resolvers) is removed, so no DNS
  query of the cluster leaves this machine.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import yaml

from .. import kindnode

#: What ``docker run --privileged`` is replaced with where it fails.
PRIVILEGED_STAND_IN = (
    "--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm", "--device", "/dev/kmsg",
    "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
)

#: The pod network's CNI configuration name (containerd loads the first file of /etc/cni/net.d).
CNI_CONF = "/etc/cni/net.d/10-archconform-ptp.conflist"
CNI_NAME = "archconform-ptp"
#: kind's default pod network (sigs.k8s.io/kind pkg/apis/config/v1alpha4/default.go).
KIND_POD_SUBNET = "10.244.0.0/16"
#: The netfilter queue kube-network-policies reads (its --nfqueue-id; clusters/addons/network-policies-local).
NFQUEUE_ID = 100
#: Our iptables chain (mangle table, POSTROUTING: after Service DNAT, before SNAT).
QUEUE_CHAIN = "ARCHCONFORM-NETPOL"


def privileged_works(image: str, timeout: float = 60.0) -> tuple[bool, str]:
    """(works, docker's last line) for ``docker run --rm --privileged IMAGE true``."""
    proc = subprocess.run(["docker", "run", "--rm", "--privileged", "--entrypoint", "true", image],
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
    return proc.returncode == 0, (lines[0] if lines else "")


def write_front_end(folder: Path, real_docker: str) -> Path:
    """A ``docker`` for kind's PATH that stands in for --privileged; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    stand_in = " ".join(shlex.quote(a) for a in PRIVILEGED_STAND_IN)
    script = f"""#!/bin/bash
# archconform: docker for kind where `docker run --privileged` fails on this machine.
# run: --privileged -> {stand_in}; --cgroupns=private -> --cgroupns=host
# exec: --privileged dropped (an exec has the node's capabilities). Anything else: unchanged.
real={shlex.quote(real_docker)}
sub="${{1:-}}"
if [ "$sub" = run ] || [ "$sub" = exec ]; then
  shift
  args=()
  for a in "$@"; do
    case "$a" in
      --privileged) [ "$sub" = run ] && args+=({stand_in}) ;;
      --cgroupns=private) args+=(--cgroupns=host) ;;
      *) args+=("$a") ;;
    esac
  done
  exec "$real" "$sub" "${{args[@]}}"
fi
exec "$real" "$@"
"""
    path = folder / "docker"
    path.write_text(script)
    path.chmod(0o755)
    return folder


def config(root: Path) -> dict:
    """clusters/kind.yaml with what a node image built here needs."""
    data = yaml.safe_load((root / "clusters" / "kind.yaml").read_text())
    data.setdefault("networking", {})["disableDefaultCNI"] = True
    patches = list(data.get("kubeadmConfigPatches") or [])
    patches.append(yaml.safe_dump({"kind": "ClusterConfiguration",
                                   "etcd": {"local": {"imageTag": kindnode.ETCD_TAG}}}))
    patches.append(yaml.safe_dump({"kind": "KubeletConfiguration", "failCgroupV1": False}))
    data["kubeadmConfigPatches"] = patches
    return data


def pod_subnet(data: dict) -> str:
    """The cluster's IPv4 pod network from a kind config (kind's default when it names none)."""
    subnets = str((data.get("networking") or {}).get("podSubnet") or KIND_POD_SUBNET).split(",")
    return next((s.strip() for s in subnets if ":" not in s), KIND_POD_SUBNET)


def queue_rules(subnet: str) -> list[str]:
    """iptables commands that hand kube-network-policies the packets its nftables rules would."""
    chain, q = QUEUE_CHAIN, f"-j NFQUEUE --queue-num {NFQUEUE_ID} --queue-bypass"
    return [f"iptables -t mangle -N {chain} 2>/dev/null || iptables -t mangle -F {chain}",
            f"iptables -t mangle -A {chain} -m owner --uid-owner 0 -j RETURN",
            f"iptables -t mangle -A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
            f"iptables -t mangle -A {chain} -s {subnet} {q}",
            f"iptables -t mangle -A {chain} -d {subnet} {q}",
            f"iptables -t mangle -C POSTROUTING -j {chain} 2>/dev/null || iptables -t mangle -A POSTROUTING -j {chain}"]


def cni_config(pod_cidr: str, mtu: int = 1500) -> dict:
    return {"cniVersion": "1.0.0", "name": CNI_NAME, "plugins": [
        {"type": "ptp", "ipMasq": False, "mtu": mtu,
         "ipam": {"type": "host-local", "dataDir": "/run/cni-ipam-state",
                  "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": pod_cidr}]]}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]}


def internal_ip(node: dict) -> str | None:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP" and ":" not in addr.get("address", ""):
            return addr["address"]
    return None


def pod_network_script(node: dict, nodes: list[dict], subnet: str = KIND_POD_SUBNET) -> str:
    """The shell run in one node: its CNI configuration, routes to the others' pods, and the
    rules that queue new pod connections for the NetworkPolicy engine."""
    me = node["metadata"]["name"]
    cidr = (node.get("spec") or {}).get("podCIDR")
    lines = ["set -eu", "mkdir -p /etc/cni/net.d",
             f"cat > {CNI_CONF}.tmp <<'EOF'\n{json.dumps(cni_config(cidr), indent=1)}\nEOF",
             f"mv {CNI_CONF}.tmp {CNI_CONF}"]
    for other in nodes:
        if other["metadata"]["name"] == me:
            continue
        via, dest = internal_ip(other), (other.get("spec") or {}).get("podCIDR")
        if via and dest:
            lines.append(f"ip route replace {dest} via {via}")
    lines += queue_rules(subnet)
    return "\n".join(lines) + "\n"


_FORWARD = re.compile(r"\n[ \t]*forward[ \t]+\.[^\n{]*\{[^}]*\}|\n[ \t]*forward[ \t]+\.[^\n]*")


def coredns_without_upstream(corefile: str) -> str:
    """The Corefile without its ``forward .`` block (cluster names only; nothing leaves)."""
    return _FORWARD.sub("", corefile)
