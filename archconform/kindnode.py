"""A kind node image built here, from source and Debian packages, without any registry.

``kind build node-image`` fetches etcd, CoreDNS, pause and kindnetd from registries, so the node
image is assembled the way that build does it, with local pieces only:

1. the base image: a bookworm root filesystem from debootstrap (archconform.rootfs) plus the
   runtime built by ``bin/build-cluster node`` (containerd, its runc shim, ctr, runc, crictl, the
   CNI plugins), kubelet, kubeadm and kubectl, and our own entrypoint, systemd units and
   containerd configuration (clusters/node/files/); ``docker import`` makes it an image;
2. the images the cluster runs, each a ``docker import`` of a small root filesystem: the
   control plane, kube-proxy, etcd, CoreDNS and pause under exactly the names kubeadm v1.37.2
   asks for, and the add-ons' images under ours;
3. the node image: the base image started with ``sleep`` (no privilege needed), its containerd
   started by hand, every image of 2. imported into the ``k8s.io`` namespace with the label that
   pins it (``io.cri-containerd.pinned=pinned``), containerd stopped, ``docker commit``.

Every image is tagged with a key that hashes its inputs, so a second build is a no-op. No
``docker pull`` happens at any step (images are imported, never fetched).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import machine, rootfs, toolchain

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "clusters" / "node" / "files"

KUBERNETES_VERSION = toolchain.KUBERNETES_VERSION
#: What kubeadm v1.37.2 asks for (cmd/kubeadm/app/constants): CoreDNS and pause. Its etcd
#: default is 3.7.0-0; the etcd we build is 3.6, so the kind config sets etcd.local.imageTag.
COREDNS_TAG = "v1.14.6"
PAUSE_TAG = "3.10.2"
ETCD_TAG = f"{toolchain.ETCD_VERSION.lstrip('v')}-0"

BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2",
                 "ethtool", "util-linux", "mount", "kmod", "libseccomp2", "ca-certificates", "procps",
                 "bash", "socat", "ipset", "busybox-static"]

#: The Debian root filesystems images are laid on: name -> packages.
ROOTFS = {
    "kind-base": BASE_PACKAGES,
    "data-services": ["postgresql-15", "redis-server", "gzip"],
}
#: Images of the default storage (names inside the node only; the manifest says Never pull).
STORAGE_PROVISIONER_IMAGE = f"docker.io/archconform/local-path-provisioner:{toolchain.LOCAL_PATH_PROVISIONER_VERSION}"
STORAGE_HELPER_IMAGE = "docker.io/archconform/local-path-helper:bookworm"
#: The database images the systems' manifests name (as containerd spells them), built from Debian.
DATA_IMAGES = ("docker.io/library/postgres:15-alpine", "docker.io/library/postgres:14",
               "docker.io/library/redis:7-alpine")
IMAGES_DIR = ROOT / "clusters" / "node" / "images"
PINNED_LABEL = "io.cri-containerd.pinned=pinned"
TIMEOUT = 900.0


class NodeImageError(Exception):
    """One line: which image could not be built and why."""


def _say(message: str) -> None:
    print(f"[node-image {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


_last_line = machine.last_line


def docker(*args: str, input: bytes | None = None, timeout: float = TIMEOUT, what: str = "") -> str:
    """Run docker; its stdout, or NodeImageError naming what failed with docker's last line."""
    try:
        out = subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout)
    except FileNotFoundError:
        raise NodeImageError("docker not found on PATH (bin/docker-engine start installs Debian's docker.io)") from None
    except subprocess.TimeoutExpired:
        raise NodeImageError(f"{what or 'docker ' + args[0]} did not finish within {timeout:.0f}s") from None
    if out.returncode != 0:
        raise NodeImageError(f"{what or 'docker ' + ' '.join(args[:2])} failed: {_last_line(out.stderr)}")
    return out.stdout.decode(errors="replace")


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


# ------------------------------------------------------------------------------------------
# layers written with tarfile
# ------------------------------------------------------------------------------------------
@dataclass
class Layer:
    """Files of an image's single layer: path in the image -> (source file or bytes, mode)."""

    files: dict[str, tuple[Path | bytes, int]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    #: Modes of folders in ``dirs`` that are not 0755.
    dir_modes: dict[str, int] = field(default_factory=dict)

    def add(self, path: str, source: Path | bytes, mode: int = 0o755) -> None:
        self.files[path.lstrip("/")] = (source, mode)

    def key(self) -> str:
        h = hashlib.sha256()
        for path, (source, mode) in sorted(self.files.items()):
            h.update(f"{path}:{mode:o}:".encode())
            if isinstance(source, bytes):
                h.update(source)
            elif source.is_relative_to(ROOT):   # ours: the content (a fresh clone has new mtimes)
                h.update(source.read_bytes())
            else:   # built binaries carry their build key in the folder name; size+mtime is enough
                st = source.stat()
                h.update(f"{source}:{st.st_size}:{int(st.st_mtime)}".encode())
        h.update(json.dumps([sorted(self.links.items()), sorted(self.dirs), sorted(self.dir_modes.items())]).encode())
        return h.hexdigest()[:12]

    def write(self, tf: tarfile.TarFile, existing: set[str] | None = None) -> None:
        """Add the layer to ``tf``; ``existing``: normalised paths already in it (never added twice)."""
        made: set[str] = set(existing or ())

        def parents(path: str) -> None:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in made:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(info)
                    made.add(d)

        for d in self.dirs:
            parents(d + "/x")
            if d not in made:
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, self.dir_modes.get(d, 0o755)
                tf.addfile(info)
                made.add(d)
        for path, (source, mode) in sorted(self.files.items()):
            parents(path)
            data = source if isinstance(source, bytes) else source.read_bytes()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tf.addfile(info, io.BytesIO(data))
        for path, target in sorted(self.links.items()):
            parents(path)
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)


def _norm(name: str) -> str:
    """A tar member's path without ./ and trailing / (how two spellings of one path compare)."""
    return name.removeprefix("./").strip("/")


def _import(tar_path: Path, ref: str, changes: list[str], say) -> None:
    say(f"docker import {ref}")
    args = ["import"]
    for change in changes:
        args += ["--change", change]
    docker(*args, str(tar_path), ref, what=f"docker import {ref}")


def layer_tar(tar_path: Path, layer: Layer, base_tar: Path | None = None) -> None:
    """Write the single-layer tar of an image: ``layer`` alone, or over a Debian root filesystem
    (a path of the layer replaces the root filesystem's; no path is written twice)."""
    replaced = set(layer.files) | set(layer.links)
    existing: set[str] = set()
    with tarfile.open(tar_path, "w") as tf:
        if base_tar is not None:
            with tarfile.open(base_tar) as src:
                for member in src:
                    name = _norm(member.name)
                    if not name or name in replaced:
                        continue
                    existing.add(name)
                    tf.addfile(member, src.extractfile(member) if member.isfile() else None)
        layer.write(tf, existing)


def _image(ref: str, layer: Layer, changes: list[str], workdir: Path, say, base_tar: Path | None = None) -> None:
    """``docker import`` of ``layer_tar`` under ``ref``, unless ``ref`` exists."""
    if image_exists(ref):
        return
    tar_path = workdir / (hashlib.sha256(ref.encode()).hexdigest()[:12] + ".tar")
    layer_tar(tar_path, layer, base_tar)
    _import(tar_path, ref, changes, say)
    tar_path.unlink()


# ------------------------------------------------------------------------------------------
# what goes where
# ------------------------------------------------------------------------------------------
def _bin(name: str) -> Path:
    path = toolchain.binary(name)
    if path is None:
        raise NodeImageError(f"{name} is not built: run bin/build-cluster node")
    return path


def pause_binary(say=_say) -> Path:
    """The pause binary, compiled with gcc -static from the Kubernetes module's build/pause."""
    source = toolchain.cache_dir() / "go" / "mod" / "k8s.io" / f"kubernetes@{KUBERNETES_VERSION}" / \
        "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise NodeImageError(f"{source} is missing: run bin/build-cluster (it downloads the Kubernetes module)")
    digest = hashlib.sha256(source.read_bytes() + PAUSE_TAG.encode()).hexdigest()[:12]
    out = toolchain.cache_dir() / "bin" / f"pause-{PAUSE_TAG}-{digest}" / "pause"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    say(f"compiling pause {PAUSE_TAG} (gcc -static)")
    proc = subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", f'-DVERSION=v{PAUSE_TAG}', "-o",
                           str(out) + ".tmp", str(source)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise NodeImageError(f"gcc could not compile pause: {_last_line(proc.stderr)}")
    os.replace(str(out) + ".tmp", out)
    return out


def base_layer() -> Layer:
    """Our files and the built runtime on top of the Debian root filesystem."""
    layer = Layer()
    for path in sorted(FILES.rglob("*")):
        if path.is_file():
            rel = path.relative_to(FILES).as_posix()
            layer.add(rel, path, 0o755 if os.access(path, os.X_OK) else 0o644)
    for name in ("kubelet", "kubeadm", "kubectl"):
        layer.add(f"usr/bin/{name}", _bin(name))
    for name in ("containerd", "ctr", "containerd-shim-runc-v2", "crictl"):
        layer.add(f"usr/local/bin/{name}", _bin(name))
    layer.add("usr/local/sbin/runc", _bin("runc"))
    for name in ("ptp", "bridge", "host-local", "loopback", "portmap"):
        layer.add(f"opt/cni/bin/{name}", _bin(name))
    layer.add("kind/version", f"{KUBERNETES_VERSION}\n".encode(), 0o644)
    wants = "etc/systemd/system/multi-user.target.wants"
    layer.links[f"{wants}/containerd.service"] = "/etc/systemd/system/containerd.service"
    layer.links[f"{wants}/kubelet.service"] = "/etc/systemd/system/kubelet.service"
    layer.links[f"{wants}/undo-mount-hacks.service"] = "/etc/systemd/system/undo-mount-hacks.service"
    layer.dirs += ["etc/kubernetes/manifests", "etc/cni/net.d", "var/lib/kubelet"]
    return layer


@dataclass(frozen=True)
class ImageSpec:
    ref: str
    #: binary name -> path in the image
    binaries: dict[str, str]
    changes: tuple[str, ...] = ()
    #: The Debian root filesystem it is laid on (a key of ROOTFS: needs a shell, iptables,
    #: PostgreSQL, ...), or None: FROM scratch.
    rootfs: str | None = None
    #: Our files: path in the image -> path under clusters/node/images/.
    files: tuple[tuple[str, str], ...] = ()
    #: (user, uid): /etc/passwd and /etc/group of the root filesystem with that user's uid and
    #: gid changed (the uid a manifest written for an upstream image runs as).
    users: tuple[tuple[str, int], ...] = ()
    #: Binaries taken from the root filesystem: path in the image -> path in the root filesystem
    #: (the image is then FROM scratch with those files, not laid on the root filesystem).
    from_rootfs: tuple[tuple[str, str], ...] = ()
    #: Empty folders the image has (mode 1777, as /tmp: a mount point any uid can write to).
    dirs: tuple[str, ...] = ()


def cluster_images() -> list[ImageSpec]:
    """Every image the cluster runs, under the names kubeadm and the add-on manifests use.

    These names exist only inside the node's containerd: on the host, Docker holds the same
    images under ``archconform-node/...`` names (``local_ref``), so no image of the user's
    (a pulled registry.k8s.io image, say) is ever retagged."""
    k8s = "registry.k8s.io"
    path_env = "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    out = [ImageSpec(f"{k8s}/{name}:{KUBERNETES_VERSION}", {name: f"/usr/local/bin/{name}"}, (path_env,))
           for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    out += [
        # kube-proxy runs iptables-save and iptables-restore: it needs the Debian tools.
        ImageSpec(f"{k8s}/kube-proxy:{KUBERNETES_VERSION}", {"kube-proxy": "/usr/local/bin/kube-proxy"},
                  (path_env,), rootfs="kind-base"),
        ImageSpec(f"{k8s}/etcd:{ETCD_TAG}", {"etcd": "/usr/local/bin/etcd"}, (path_env,)),
        ImageSpec(f"{k8s}/coredns/coredns:{COREDNS_TAG}", {"coredns": "/coredns"},
                  ('ENTRYPOINT ["/coredns"]',)),
        ImageSpec(f"{k8s}/pause:{PAUSE_TAG}", {"pause": "/pause"}, ('ENTRYPOINT ["/pause"]',)),
        ImageSpec(f"{k8s}/metrics-server/metrics-server:{toolchain.METRICS_SERVER_VERSION}",
                  {"metrics-server": "/metrics-server"}, ('ENTRYPOINT ["/metrics-server"]',)),
        ImageSpec(f"{k8s}/networking/kube-network-policies:{toolchain.KUBE_NETWORK_POLICIES_VERSION}",
                  {"netpol": "/bin/netpol"}, ('ENTRYPOINT ["/bin/netpol"]',)),
        # Storage (clusters/node/files/kind/manifests/default-storage.yaml): the provisioner, and
        # the helper pod that makes and removes volume folders (/bin/sh /script/setup): Debian's
        # static busybox under the three names the scripts run.
        ImageSpec(STORAGE_PROVISIONER_IMAGE, {"local-path-provisioner": "/usr/local/bin/local-path-provisioner"},
                  (path_env,)),
        ImageSpec(STORAGE_HELPER_IMAGE, {}, (path_env,), rootfs="kind-base",
                  from_rootfs=tuple((f"bin/{n}", "usr/bin/busybox") for n in ("sh", "mkdir", "rm"))),
    ]
    # Stand-ins for the database images the systems' manifests name, from Debian's packages
    # (bookworm: PostgreSQL 15, Redis 7.0) and our entrypoints (clusters/node/images/), which keep
    # the upstream images' environment contract. postgres:14 is PostgreSQL 15 here (Debian has no
    # 14): a documented deviation. The uids are the upstream images' (postgres 70 as in the alpine
    # image, redis 999) so the manifests' runAsUser settings hold.
    pg_env = ("ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
              "ENV PGDATA=/var/lib/postgresql/data", "ENV LANG=C.UTF-8", "EXPOSE 5432",
              'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]', 'CMD ["postgres"]')
    redis_env = ("ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "WORKDIR /data", "EXPOSE 6379",
                 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]', 'CMD ["redis-server"]')
    # One layer for the three (the same bytes: Docker and containerd store it once); the image
    # configuration tells the entrypoint which server it starts.
    for ref in DATA_IMAGES:
        which = "redis" if "/redis:" in ref else "postgres"
        env = redis_env if which == "redis" else pg_env
        out.append(ImageSpec(ref, {}, (f"ENV ARCHCONFORM_DATA_IMAGE={which}", *env), rootfs="data-services",
                             files=(("usr/local/bin/docker-entrypoint.sh", "docker-entrypoint.sh"),),
                             users=(("postgres", 70), ("redis", 999)), dirs=("data",)))
    return out


def local_ref(spec: ImageSpec, key: str) -> str:
    """The host-side name of a cluster image: ours, keyed by its inputs."""
    name, _, tag = spec.ref.rpartition(":")
    return f"archconform-node/{name.split('/', 1)[1]}:{tag}-{key}"


def _spec_layer(spec: ImageSpec, base_tar: Path | None = None) -> Layer:
    layer = Layer()
    for name, where in spec.binaries.items():
        layer.add(where, pause_binary() if name == "pause" else _bin(name))
    layer.dirs += list(spec.dirs)
    layer.dir_modes.update({d: 0o1777 for d in spec.dirs})
    for where, name in spec.files:
        source = IMAGES_DIR / name
        layer.add(where, source, 0o755 if os.access(source, os.X_OK) else 0o644)
    if (spec.users or spec.from_rootfs) and base_tar is not None:
        wanted = {"etc/passwd", "etc/group"} if spec.users else set()
        wanted |= {src for _, src in spec.from_rootfs}
        found = _read_from_tar(base_tar, wanted)
        for where, src in spec.from_rootfs:
            if src not in found:
                raise NodeImageError(f"{src} is not in {base_tar.name}")
            layer.add(where, found[src])
        if spec.users:
            layer.add("etc/passwd", with_ids(found.get("etc/passwd", b""), dict(spec.users)), 0o644)
            layer.add("etc/group", with_ids(found.get("etc/group", b""), dict(spec.users)), 0o644)
    return layer


def _read_from_tar(tar_path: Path, names: set[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(tar_path) as tf:
        for member in tf:
            name = _norm(member.name)
            if name in names and member.isfile():
                out[name] = tf.extractfile(member).read()
    return out


def with_ids(text: bytes, ids: dict[str, int]) -> bytes:
    """passwd or group lines with the id (in passwd, the uid and the gid) of the named entries
    set; a named entry that is missing is added."""
    lines = text.decode().splitlines()
    seen = set()
    out = []
    for line in lines:
        parts = line.split(":")
        if parts and parts[0] in ids and len(parts) > 2:
            parts[2] = str(ids[parts[0]])
            if len(parts) == 7:          # passwd: uid, then gid
                parts[3] = str(ids[parts[0]])
            seen.add(parts[0])
        out.append(":".join(parts))
    for name, num in ids.items():
        if name not in seen:
            out.append(f"{name}:x:{num}:{num}::/nonexistent:/usr/sbin/nologin" if any(
                len(ln.split(":")) == 7 for ln in lines) else f"{name}:x:{num}:")
    return ("\n".join(out) + "\n").encode()


# ------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------
@dataclass
class Built:
    base: str
    node: str
    images: dict[str, str]          # name in the node -> name on the host
    seconds: float


def _node_script(pairs: list[tuple[str, str]]) -> str:
    """Inside the build container: start containerd, import, name, pin, stop."""
    lines = [
        "set -eu",
        "mkdir -p /run/containerd",
        "containerd >/var/log/containerd-build.log 2>&1 &",
        "for i in $(seq 1 120); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.5; done",
        "ctr version >/dev/null",
        f"ctr -n k8s.io images import --no-unpack --all-platforms --label {PINNED_LABEL} /images.tar >/dev/null",
    ]
    for local, wanted in pairs:
        local = f"docker.io/{local}"   # containerd names what docker save wrote with its registry
        lines += [f"ctr -n k8s.io images tag --force {local} {wanted} >/dev/null",
                  f"ctr -n k8s.io images label {wanted} {PINNED_LABEL} >/dev/null",
                  f"ctr -n k8s.io images rm {local} >/dev/null"]
    lines += ["ctr -n k8s.io images ls -q", "kill %1", "wait || true", "rm -f /images.tar /var/log/containerd-build.log"]
    return "\n".join(lines) + "\n"


def build(*, say=_say) -> Built:
    """Build what is missing of the base image, the cluster images and the node image."""
    started = time.monotonic()
    base_tar = rootfs.build("kind-base", BASE_PACKAGES, say=say)
    tars = {"kind-base": base_tar}
    layer = base_layer()
    base_key = hashlib.sha256((base_tar.name + layer.key()).encode()).hexdigest()[:12]
    base_ref = f"archconform/kind-base:{base_key}"
    work = Path(tempfile.mkdtemp(prefix="archconform-node-image-"))
    try:
        _image(base_ref, layer, ["ENV container=docker", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'],
               work, say, base_tar=base_tar)
        images: dict[str, str] = {}
        for spec in cluster_images():
            if spec.rootfs and spec.rootfs not in tars:
                tars[spec.rootfs] = rootfs.build(spec.rootfs, ROOTFS[spec.rootfs], say=say)
            spec_tar = tars[spec.rootfs] if spec.rootfs else None
            spec_layer = _spec_layer(spec, spec_tar)
            key = hashlib.sha256((spec_layer.key() + json.dumps(spec.changes) +
                                  (spec_tar.name if spec_tar else "")).encode()).hexdigest()[:12]
            ref = local_ref(spec, key)
            # files taken from a root filesystem go on scratch; otherwise the image is laid on it
            _image(ref, spec_layer, list(spec.changes), work, say, base_tar=None if spec.from_rootfs else spec_tar)
            images[spec.ref] = ref
        node_key = hashlib.sha256(json.dumps([base_ref, sorted(images.items())]).encode()).hexdigest()[:12]
        node_ref = f"archconform/kind-node:{KUBERNETES_VERSION}-{node_key}"
        if not image_exists(node_ref):
            _assemble(node_ref, base_ref, images, work, say)
        _prune("archconform/kind-node", keep={node_ref}, say=say)
        _prune("archconform/kind-base", keep={base_ref}, say=say)
        for repository in sorted({ref.rpartition(":")[0] for ref in images.values()}):
            # postgres:15-alpine and postgres:14 share a repository: keep every current one
            _prune(repository, keep={ref for ref in images.values() if ref.rpartition(":")[0] == repository}, say=say)
        seconds = time.monotonic() - started
        say(f"node image {node_ref} ready after {seconds:.0f}s")
        return Built(base=base_ref, node=node_ref, images=images, seconds=seconds)
    finally:
        for child in work.iterdir():
            child.unlink()
        work.rmdir()


def _prune(repository: str, *, keep: set[str], say) -> None:
    """Remove the older builds of one of our image repositories (a cache, not a history)."""
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
                         capture_output=True, text=True)
    stale = [ref for ref in out.stdout.split() if ref not in keep and ref.startswith(repository + ":")]
    for ref in stale:
        if subprocess.run(["docker", "rmi", ref], capture_output=True).returncode == 0:
            say(f"removed the older image {ref}")


def _assemble(node_ref: str, base_ref: str, images: dict[str, str], work: Path, say) -> None:
    saved = work / "images.tar"
    say(f"docker save of {len(images)} cluster images")
    docker("save", "-o", str(saved), *images.values(), what="docker save")
    name = f"archconform-node-build-{os.getpid()}-{int(time.time())}"
    say(f"assembling {node_ref} in container {name}")
    docker("run", "-d", "--name", name, "--label", "io.archconform.build=node-image", "--entrypoint", "sleep",
           "--security-opt", "seccomp=unconfined", "--tmpfs", "/run", base_ref, "infinity",
           what="docker run (node image build)")
    try:
        docker("cp", str(saved), f"{name}:/images.tar", what="docker cp images.tar")
        script = _node_script([(local, wanted) for wanted, local in images.items()])
        listed = docker("exec", "-i", name, "bash", "-s", input=script.encode(), what="import into containerd")
        missing = [wanted for wanted in images if wanted not in listed]
        if missing:
            raise NodeImageError(f"the node's containerd lacks {', '.join(missing)} after the import")
        docker("commit", "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
               "--change", "CMD []", name, node_ref, what="docker commit")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


#: The workload stand-in's Debian packages: python3 brings the whole standard library it uses;
#: python-is-python3 the ``python`` that the upstream python image has and the probes run.
WORKLOAD_PACKAGES = ["python3", "python-is-python3"]


def workload_image(ref: str, source: Path, *, say=_say) -> str:
    """The workload stand-in (workload/) on Debian's python3, with the Dockerfile's settings:
    uid 1000, no bytecode written, /app on PYTHONPATH, port 8080."""
    base_tar = rootfs.build("workload", WORKLOAD_PACKAGES, say=say)
    layer = Layer()
    package = source / "archconform_workload"
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            layer.add(f"app/{path.relative_to(source).as_posix()}", path, 0o644)
    work = Path(tempfile.mkdtemp(prefix="archconform-workload-image-"))
    try:
        # The tag is ours and fixed (the manifests name it): replace it when the inputs changed.
        key = hashlib.sha256((base_tar.name + layer.key()).encode()).hexdigest()[:12]
        keyed = f"archconform/workload-local:{key}"
        _image(keyed, layer, [
            "ENV PYTHONDONTWRITEBYTECODE=1", "ENV PYTHONUNBUFFERED=1", "ENV PYTHONPATH=/app",
            "ENV WORKLOAD_PORTS=8080", "WORKDIR /app", "USER 1000:1000", "EXPOSE 8080",
            'CMD ["python3", "-m", "archconform_workload", "serve"]'], work, say, base_tar=base_tar)
        docker("tag", keyed, ref, what=f"docker tag {ref}")
        _prune("archconform/workload-local", keep={keyed}, say=say)
        return ref
    finally:
        for child in work.iterdir():
            child.unlink()
        work.rmdir()
