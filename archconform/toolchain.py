"""Real Kubernetes components built from source: pinned, cached, with their real versions.

Nothing can be pulled on a machine without a registry, but the Go module proxy serves every
piece of a cluster. Each component is a Go module of ours under ``clusters/build/<name>/``
(go.mod and go.sum committed, so every dependency is pinned by hash); ``build()`` compiles
whatever is missing into a cache outside the repository, one folder per component keyed by its
version and by a hash of everything that decides the binaries (go.mod, go.sum, flags, Go
version). A second build with the same inputs is a no-op.

    bin/build-cluster               # the control plane for --cluster kwok (what is missing)
    bin/build-cluster node          # kind and a kind node's pieces (kubelet, containerd, runc, ...)
    bin/build-cluster --check       # exit 1 and name what is missing, build nothing
    bin/build-cluster --where       # print the folder of each component

The cache is ``$ARCHCONFORM_CACHE`` or ``${XDG_CACHE_HOME:-~/.cache}/archconform``: ``bin/``
holds the binaries, ``go/mod`` and ``go/build`` are this build's own Go module and build caches
(so a cold build can be measured, and removed with ``go clean -modcache`` plus ``rm -rf``).

This module uses the standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import machine

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "clusters" / "build"

#: The oldest Go that builds every pinned module (their go.mod files say go 1.26.0).
MIN_GO = (1, 26)
#: Seconds between two progress lines of a long build step.
PROGRESS_EVERY = 15.0


class BuildError(Exception):
    """One line saying what could not be built and why (the caller prints it, no traceback)."""


@dataclasses.dataclass(frozen=True)
class Component:
    name: str
    version: str
    #: Binary name → Go main package.
    binaries: dict[str, str]
    #: -X settings (package.variable → value), so each binary reports its real version.
    version_vars: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Build tags (runc's seccomp support, say).
    tags: tuple[str, ...] = ()
    #: True: built with cgo and linked statically (runc needs libseccomp); else CGO_ENABLED=0.
    cgo: bool = False
    #: Debian packages a cgo build needs (installed with apt-get when missing, as root).
    apt_packages: tuple[str, ...] = ()
    #: The build module's folder under clusters/build/ (default: the component's name).
    module: str = ""

    @property
    def module_dir(self) -> Path:
        return BUILD_DIR / (self.module or self.name)


def _k8s_version_vars(version: str) -> dict[str, str]:
    # hack/lib/version.sh sets the same variables in component-base (servers) and client-go
    # (kubectl's client side). The git commit is not known from the module proxy, so it stays
    # unset rather than invented; gitTreeState "archive" is what a source tarball build reports.
    major, minor = version.lstrip("v").split(".")[:2]
    out: dict[str, str] = {}
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        out.update({f"{pkg}.gitVersion": version, f"{pkg}.gitMajor": major, f"{pkg}.gitMinor": minor,
                    f"{pkg}.gitTreeState": "archive"})
    return out


KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.17"
KWOK_VERSION = "v0.8.0"
METRICS_SERVER_VERSION = "v0.8.0"
# The data plane of a kind node built here (bin/build-cluster node).
CONTAINERD_VERSION = "v2.4.2"
RUNC_VERSION = "v1.5.3"
CRI_TOOLS_VERSION = "v1.37.0"
CNI_PLUGINS_VERSION = "v1.10.0"
#: What kubeadm v1.37.2 deploys (cmd/kubeadm/app/constants: CoreDNSVersion).
COREDNS_VERSION = "v1.14.6"
KUBE_NETWORK_POLICIES_VERSION = "v0.8.0"
#: kind v0.33.0 builds its provisioner from v0.0.34; the module proxy serves up to v0.0.30.
LOCAL_PATH_PROVISIONER_VERSION = "v0.0.30"
KIND_VERSION = "v0.33.0"

COMPONENTS: dict[str, Component] = {c.name: c for c in (
    Component("kubernetes", KUBERNETES_VERSION, {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    }, _k8s_version_vars(KUBERNETES_VERSION)),
    Component("etcd", ETCD_VERSION, {"etcd": "go.etcd.io/etcd/server/v3"}, {
        # etcd reads its version from the api module it is built with; only the SHA is a flag.
        "go.etcd.io/etcd/api/v3/version.GitSHA": "not-known-built-from-module-proxy",
    }),
    Component("kwok", KWOK_VERSION, {
        "kwok": "sigs.k8s.io/kwok/cmd/kwok",
        "kwokctl": "sigs.k8s.io/kwok/cmd/kwokctl",
    }, {
        "sigs.k8s.io/kwok/pkg/consts.Version": KWOK_VERSION,
        # The Kubernetes kwokctl starts is ours, so it should say so (it picks flags by version).
        "sigs.k8s.io/kwok/pkg/consts.KubeVersion": KUBERNETES_VERSION,
    }),
    Component("metrics-server", METRICS_SERVER_VERSION,
              {"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
              {"k8s.io/client-go/pkg/version.gitVersion": METRICS_SERVER_VERSION}),
    Component("kubernetes-node", KUBERNETES_VERSION, {
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kubeadm": "k8s.io/kubernetes/cmd/kubeadm",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    }, _k8s_version_vars(KUBERNETES_VERSION)),
    Component("containerd", CONTAINERD_VERSION, {
        "containerd": "github.com/containerd/containerd/v2/cmd/containerd",
        "ctr": "github.com/containerd/containerd/v2/cmd/ctr",
        "containerd-shim-runc-v2": "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
    }, {"github.com/containerd/containerd/v2/version.Version": CONTAINERD_VERSION}),
    # runc reads its version from the VERSION file it embeds; seccomp needs cgo and libseccomp.
    Component("runc", RUNC_VERSION, {"runc": "github.com/opencontainers/runc"},
              tags=("seccomp", "urfave_cli_no_docs", "netgo", "osusergo"), cgo=True,
              apt_packages=("libseccomp-dev", "pkg-config")),
    Component("cri-tools", CRI_TOOLS_VERSION, {"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
              {"sigs.k8s.io/cri-tools/pkg/version.Version": CRI_TOOLS_VERSION}),
    Component("cni-plugins", CNI_PLUGINS_VERSION, {
        name: f"github.com/containernetworking/plugins/plugins/{kind}/{name}"
        for kind, name in (("main", "ptp"), ("main", "bridge"), ("main", "loopback"),
                           ("ipam", "host-local"), ("meta", "portmap"))
    }, {"github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion": CNI_PLUGINS_VERSION}),
    # CoreDNS's version is a constant of its coremain package.
    Component("coredns", COREDNS_VERSION, {"coredns": "github.com/coredns/coredns"}),
    Component("kube-network-policies", KUBE_NETWORK_POLICIES_VERSION,
              {"netpol": "sigs.k8s.io/kube-network-policies/cmd"}),
    Component("local-path-provisioner", LOCAL_PATH_PROVISIONER_VERSION,
              {"local-path-provisioner": "github.com/rancher/local-path-provisioner"},
              {"main.VERSION": LOCAL_PATH_PROVISIONER_VERSION}),
    # kind's version is a constant of its version package.
    Component("kind", KIND_VERSION, {"kind": "sigs.k8s.io/kind"}),
)}

#: Named sets a provider asks for.
SETS: dict[str, tuple[str, ...]] = {
    "control-plane": ("kubernetes", "etcd", "kwok", "metrics-server"),
    # a kind node image built here (archconform.kindnode) and the kind CLI that starts it
    "node": ("kubernetes", "kubernetes-node", "etcd", "metrics-server", "containerd", "runc", "cri-tools",
             "cni-plugins", "coredns", "kube-network-policies", "local-path-provisioner", "kind"),
}


# ------------------------------------------------------------------------------------------
# where things live
# ------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    return machine.cache_dir()


def go_env(cgo: bool = False) -> dict[str, str]:
    """The environment of every go command: our own caches, static binaries, no VCS stamping."""
    cache = cache_dir()
    env = dict(os.environ)
    env.update(GOMODCACHE=str(cache / "go" / "mod"), GOCACHE=str(cache / "go" / "build"),
               CGO_ENABLED="1" if cgo else "0", GOFLAGS="-mod=readonly -buildvcs=false", GOTOOLCHAIN="local",
               GOWORK="off")
    return env


def go_version(go: str) -> str:
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60, env=go_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"cannot run {go}: {exc}") from None
    version = out.stdout.strip()
    if out.returncode != 0 or not version:
        raise BuildError(f"{go} env GOVERSION failed: {_last_line(out.stderr)}")
    return version


def find_go() -> tuple[str, str]:
    """(path, version) of a usable Go, or BuildError in one line."""
    go = shutil.which("go")
    if not go:
        raise BuildError("Go is not installed (go not found on PATH): building Kubernetes from source needs "
                         f"Go >= {MIN_GO[0]}.{MIN_GO[1]} (https://go.dev/doc/install, or Debian's golang-go "
                         "if recent enough)")
    version = go_version(go)
    m = re.match(r"go(\d+)\.(\d+)", version)
    if not m or (int(m[1]), int(m[2])) < MIN_GO:
        raise BuildError(f"{go} is {version}; building Kubernetes {KUBERNETES_VERSION} needs Go >= "
                         f"{MIN_GO[0]}.{MIN_GO[1]}")
    return go, version


def _key(component: Component, go_ver: str) -> str:
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        h.update((component.module_dir / name).read_bytes())
    h.update(json.dumps([component.binaries, component.version_vars, go_ver, _LDFLAGS_BASE],
                        sort_keys=True).encode())
    if component.tags or component.cgo:   # keys of the components built before these existed stay put
        h.update(json.dumps([list(component.tags), component.cgo, _STATIC_CGO]).encode())
    return h.hexdigest()[:12]


def _installed_dirs(component: Component) -> list[Path]:
    """Folders of complete builds of this component version, newest first."""
    root = cache_dir() / "bin"
    found = [p for p in root.glob(f"{component.name}-{component.version}-*") if (p / "BUILD.json").is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def component_dir(name: str, *, go_ver: str | None = None) -> Path | None:
    """The folder holding a complete build of component ``name``, or None.

    With ``go_ver`` the build must match the current inputs exactly; without it (a machine that
    has the binaries but no Go), any complete build of the pinned version will do.
    """
    component = COMPONENTS[name]
    if go_ver is not None:
        exact = cache_dir() / "bin" / f"{component.name}-{component.version}-{_key(component, go_ver)}"
        return exact if (exact / "BUILD.json").is_file() else None
    dirs = _installed_dirs(component)
    return dirs[0] if dirs else None


def binary(name: str) -> Path | None:
    """Path of one built binary (kube-apiserver, etcd, kwokctl, ...), or None when not built."""
    for component in COMPONENTS.values():
        if name in component.binaries:
            folder = component_dir(component.name)
            path = folder / name if folder else None
            return path if path and os.access(path, os.X_OK) else None
    raise KeyError(f"no component builds {name!r}")


def missing(set_name: str = "control-plane") -> list[str]:
    """Components of a set that have no complete build in the cache (no Go needed to ask)."""
    return [name for name in SETS[set_name] if component_dir(name) is None]


# ------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------
_LDFLAGS_BASE = ["-s", "-w"]
#: How a cgo binary is linked: statically, so it runs in any Debian root filesystem.
_STATIC_CGO = ["-linkmode", "external", "-extldflags", "-static"]


_last_line = machine.last_line


def _print(message: str) -> None:
    """Default progress output: stderr with a clock."""
    print(f"[build {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _lock(say):
    """One build at a time per cache (two runs starting together wait for each other)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / "build.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another build is running on this cache; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _run_go(go: str, args: list[str], *, cwd: Path, what: str, say, count_lines: int | None = None,
            timeout: float = 3600.0, cgo: bool = False) -> str:
    """Run a go command, printing progress every PROGRESS_EVERY seconds; one-line BuildError on failure."""
    start = time.monotonic()
    proc = subprocess.Popen([go, *args], cwd=cwd, env=go_env(cgo), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    err_lines: list[str] = []

    def pump(stream, sink):
        for line in stream:
            sink.append(line.rstrip("\n"))

    threads = [threading.Thread(target=pump, args=(proc.stdout, lines), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err_lines), daemon=True)]
    for t in threads:
        t.start()
    try:
        while True:
            try:
                proc.wait(timeout=PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    raise BuildError(f"{what}: did not finish within {int(timeout)}s") from None
                done = len(err_lines)   # go build -v names each package it compiles on stderr
                share = f", {done}/{count_lines} packages compiled" if count_lines else ""
                say(f"{what}: {int(elapsed)}s{share}")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()
        raise
    for t in threads:
        t.join(timeout=5)
    if proc.returncode != 0:
        problem = next((ln for ln in reversed(err_lines) if ln.strip() and not ln.startswith("\t")), "")
        if any(s in "\n".join(err_lines) for s in ("dial tcp", "proxyconnect", "no such host", "connection refused",
                                                     "i/o timeout", "TLS handshake")):
            raise BuildError(f"{what}: the Go module proxy is not reachable (GOPROXY="
                             f"{go_env().get('GOPROXY') or 'default'}): {problem or _last_line(chr(10).join(err_lines))}")
        raise BuildError(f"{what} failed (exit {proc.returncode}): {problem or 'no output'}")
    return "\n".join(lines)


def _module_sum(component: Component, module_path: str) -> str:
    for line in (component.module_dir / "go.sum").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == module_path and not parts[1].endswith("/go.mod"):
            return f"{parts[1]} {parts[2]}"
    return ""


def _main_module(component: Component) -> str:
    """The module of the component's first main package: the longest go.sum module prefixing it."""
    package = next(iter(component.binaries.values()))
    modules = {line.split()[0] for line in (component.module_dir / "go.sum").read_text().splitlines() if line.strip()}
    found = [m for m in modules if package == m or package.startswith(m + "/")]
    return max(found, key=len) if found else package.split("/cmd/")[0]


def _go_binary_name(package: str) -> str:
    """The file `go build -o DIR/` writes for a main package: its last path element, skipping a
    major-version suffix (go.etcd.io/etcd/server/v3 -> server)."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1 else parts[-1]


def _ensure_apt(component: Component, say) -> None:
    """The Debian packages a cgo build links against (libseccomp's static library, say)."""
    missing = machine.apt_missing(component.apt_packages)
    if missing:
        machine.apt_install(missing, why=f"{component.name} {component.version}", error=BuildError, say=say)


def build_component(component: Component, go: str, go_ver: str, say=_print) -> Path:
    """Build one component into the cache (no-op when its keyed folder exists)."""
    final = cache_dir() / "bin" / f"{component.name}-{component.version}-{_key(component, go_ver)}"
    if (final / "BUILD.json").is_file():
        return final
    started = time.monotonic()
    label = f"{component.name} {component.version}"
    wants = re.search(r"^go (\d+)\.(\d+)(?:\.(\d+))?", (component.module_dir / "go.mod").read_text(), re.M)
    have = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", go_ver)
    if wants and have:
        need = tuple(int(x or 0) for x in wants.groups())
        if tuple(int(x or 0) for x in have.groups()) < need:
            raise BuildError(f"{label} needs Go >= {'.'.join(map(str, need))} (clusters/build/{component.module or component.name}"
                             f"/go.mod); {go} is {go_ver}")
    say(f"{label}: downloading modules (pinned by clusters/build/{component.name}/go.sum)")
    _run_go(go, ["mod", "download"], cwd=component.module_dir, what=f"{label}: go mod download", say=say)
    packages = list(component.binaries.values())
    tag_args = ["-tags", " ".join(component.tags)] if component.tags else []
    if component.cgo:
        _ensure_apt(component, say)
    deps = _run_go(go, ["list", *tag_args, "-deps", *packages], cwd=component.module_dir,
                   what=f"{label}: go list", say=say, cgo=component.cgo)
    total = len([ln for ln in deps.splitlines() if ln.strip()])
    say(f"{label}: compiling {', '.join(component.binaries)} ({total} packages; cold builds take minutes)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{component.name}-", dir=final.parent))
    try:
        ldflags = [*_LDFLAGS_BASE, *(_STATIC_CGO if component.cgo else []),
                   *(f"-X {k}={v}" for k, v in sorted(component.version_vars.items()))]
        # One `go build` for all of a component's binaries: shared packages compile once.
        _run_go(go, ["build", "-v", "-trimpath", *tag_args, "-ldflags", " ".join(ldflags), "-o", str(tmp) + "/",
                     *packages],
                cwd=component.module_dir, what=f"{label}: go build", say=say, count_lines=total, cgo=component.cgo)
        for name, pkg in component.binaries.items():
            built = tmp / _go_binary_name(pkg)
            if built.name != name and built.is_file():
                built.rename(tmp / name)
            if not (tmp / name).is_file():
                raise BuildError(f"{label}: go build produced no {name}")
        seconds = round(time.monotonic() - started, 1)
        main_module = _main_module(component)
        record = {"component": component.name, "version": component.version, "go": go_ver,
                  "binaries": sorted(component.binaries), "module": main_module,
                  "module_sum": _module_sum(component, main_module), "version_vars": component.version_vars,
                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds}
        (tmp / "BUILD.json").write_text(json.dumps(record, indent=2) + "\n")
        tmp.chmod(0o755)
        if final.exists():   # a half-finished folder from an interrupted build
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"{label}: built in {seconds:.0f}s -> {final}")
    return final


def build(names: list[str] | tuple[str, ...], *, say=_print) -> dict[str, Path]:
    """Build what is missing of the named components; their folders. BuildError in one line.

    ``say(message)`` receives the progress lines (default: stderr with a clock)."""
    for name in names:
        if name not in COMPONENTS:
            raise BuildError(f"unknown component {name!r}; choose from {', '.join(COMPONENTS)} "
                             f"or a set: {', '.join(SETS)}")
    go, go_ver = find_go()
    with _lock(say):
        out = {}
        for i, name in enumerate(names, 1):
            component = COMPONENTS[name]
            done = component_dir(name, go_ver=go_ver)
            if done:
                say(f"[{i}/{len(names)}] {name} {component.version}: cached ({done})")
                out[name] = done
                continue
            say(f"[{i}/{len(names)}] {name} {component.version}: building with {go_ver}")
            out[name] = build_component(component, go, go_ver, say)
        return out


def expand(args: list[str]) -> list[str]:
    names: list[str] = []
    for arg in args or ["control-plane"]:
        for name in SETS.get(arg, (arg,)):
            if name not in names:
                names.append(name)
    return names


def _build_images() -> None:
    """The node image and the workload image (--images), with a Docker daemon for the time."""
    from . import dockerengine, kindnode
    from .clusters.base import WORKLOAD_IMAGE

    root = Path(__file__).resolve().parent.parent
    started_here = dockerengine.server_version() is None
    _print(dockerengine.start(say=_print))
    try:
        built = kindnode.build(say=_print)
        kindnode.workload_image(WORKLOAD_IMAGE, root / "workload", say=_print)
        _print(f"node image {built.node} and the workload image are ready")
    finally:
        if started_here:
            _print(dockerengine.stop(say=_print))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/build-cluster", description=(
        "Build pinned Kubernetes components from source into a cache outside the repository "
        f"({cache_dir()}). Default: the control-plane set ({', '.join(SETS['control-plane'])})."))
    parser.add_argument("components", nargs="*", help=f"components or sets: {', '.join([*SETS, *COMPONENTS])}")
    parser.add_argument("--check", action="store_true", help="build nothing; exit 1 naming what is missing")
    parser.add_argument("--where", action="store_true", help="print each component's folder (nothing is built)")
    parser.add_argument("--images", action="store_true",
                        help="then build the kind node image and the workload image for --kind-node-image local "
                             "(root; starts Debian's Docker Engine if no daemon answers, and stops it again)")
    args = parser.parse_args(argv)

    def run() -> int:
        names = expand(args.components)
        unknown = [n for n in names if n not in COMPONENTS]
        if unknown:
            raise BuildError(f"unknown component {unknown[0]!r}; choose from {', '.join(COMPONENTS)} "
                             f"or a set: {', '.join(SETS)}")
        if args.check or args.where:
            absent = [n for n in names if component_dir(n) is None]
            for n in names:
                if args.where:
                    print(f"{n}\t{component_dir(n) or '(not built)'}")
            if args.check and absent:
                print(f"not built: {', '.join(absent)} (run bin/build-cluster)", file=sys.stderr)
                return 1
            return 0
        started = time.monotonic()
        if args.images:
            names += [n for n in SETS["node"] if n not in names]
        build(names)
        if args.images:
            _build_images()
        _print(f"done in {time.monotonic() - started:.0f}s (cache: {cache_dir()})")
        return 0

    from . import dockerengine, kindnode, rootfs

    return machine.one_line_errors(run, (BuildError, dockerengine.EngineError, kindnode.NodeImageError,
                                         rootfs.RootfsError),
                                   "build interrupted (the partial folder was removed; rerun to continue)")


if __name__ == "__main__":
    sys.exit(main())
