"""The archconform pytest plugin (registered through the ``pytest11`` entry point).

It adds the command-line options, checks prerequisites before anything runs (a missing kind or
Docker daemon is one line within seconds, not a traceback ten minutes in), turns Gherkin tags into
markers and known gaps into strict xfails, skips live scenarios without a cluster, guards
destructive ones, owns the run's cluster (created lazily by the first scenario that needs it,
deleted at the end, on failure, Ctrl-C and SIGTERM), and shortens user-facing errors to one line.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import time
from pathlib import Path

import pytest
import yaml
from pytest_bdd.steps import step_function_context_registry

from .clusters import provider_class
from .clusters.base import ALL_KINDS as CLUSTER_KINDS
from .errors import ArchconformError, PlatformGap, PromiseBroken, UsageError
from .manifests import PROFILE_FOR_CLUSTER
from .settings import Timeouts

LIVE_REASON = "needs a live cluster (--cluster kind|kwok|k3s|eks|existing)"
DESTRUCTIVE_REASON = "destructive scenario: --cluster existing needs --allow-destructive"
#: What --run-id may be: it goes into the cluster name, a label value and a directory name.
RUN_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")

_SESSION_KEY = pytest.StashKey["object"]()
_GAPS_KEY = pytest.StashKey[dict]()
_STEP_KEY = pytest.StashKey[dict]()

progress_log = logging.getLogger("archconform.progress")

#: The report plugin (Allure labels, environment, categories, sign-off, redaction) registers with
#: this one, at import time so that its command-line options exist when pytest parses them.
pytest_plugins = ["archconform.report.pytest_plugin"]


# --------------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("archconform", "archconform: architecture conformance")
    group.addoption("--cluster", default="none", metavar="KIND",
                    help="where live scenarios run: none (default: declared and modeled checks only, live ones "
                         "skip), kind (ephemeral kind cluster), kwok (a real control plane built from source "
                         "with simulated nodes, no Docker), k3s (ephemeral k3s via testcontainers), eks "
                         "(ephemeral EKS via eksctl), existing (a cluster you own; needs --context)")
    group.addoption("--context", default=None, metavar="NAME",
                    help="kubeconfig context for --cluster existing (required there; archconform never guesses)")
    group.addoption("--keep-cluster", action="store_true", default=False,
                    help="do not delete the ephemeral cluster at the end (its kubeconfig path is printed)")
    group.addoption("--reuse-cluster", default=None, metavar="NAME",
                    help="attach to an existing kind/eks cluster of that name instead of creating one; never deleted")
    group.addoption("--system", action="append", default=[], metavar="NAME",
                    help="run only the scenarios of this architecture document (repeatable): "
                         "csa_hello, tbyte, finch, platform_go, itdo_erp")
    group.addoption("--allow-destructive", action="store_true", default=False,
                    help="allow drain/delete/disaster scenarios against --cluster existing")
    group.addoption("--profile", default=None, metavar="NAME",
                    help="kustomize overlay to deploy (default: kind for kind/k3s, base otherwise)")
    group.addoption("--workload-image", default=None, metavar="IMAGE",
                    help="the stand-in workload image (default archconform/workload:0.1.0, built and loaded "
                         "on kind/k3s; on eks/existing push it to a registry and name it here)")
    group.addoption("--kind-node-image", default="upstream", choices=("upstream", "local"), metavar="WHICH",
                    help="for --cluster kind: upstream (default: kind v0.33.0's pinned kindest/node image, "
                         "pulled by Docker) or local (a node image built on this machine from source and "
                         "Debian packages, no registry; built on first use, see README)")
    group.addoption("--smoke", action="store_true", default=False,
                    help="a bounded live check: of each chosen document, one observed scenario per area "
                         "(the cheapest: not serial, not destructive, not slow when the area has one; never a "
                         "load scenario), nothing else")
    group.addoption("--run-id", default=None, metavar="ID",
                    help="label for this run's objects and cluster name (default: random)")


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _root(config: pytest.Config) -> Path:
    return Path(str(config.rootpath))


def _validate_options(config: pytest.Config) -> None:
    from .systems import SYSTEMS

    opt = config.option
    if opt.cluster not in CLUSTER_KINDS:
        raise pytest.UsageError(f"--cluster {opt.cluster!r} is not a cluster kind; choose one of: "
                                f"{', '.join(CLUSTER_KINDS)}")
    if opt.context and opt.cluster != "existing":
        raise pytest.UsageError(f"--context is only for --cluster existing (got --cluster {opt.cluster})")
    if opt.reuse_cluster and opt.cluster not in ("kind", "eks"):
        raise pytest.UsageError("--reuse-cluster works with --cluster kind or eks")
    if opt.smoke and opt.cluster == "none":
        raise pytest.UsageError("--smoke picks live scenarios: give it a cluster (--cluster kind, ...)")
    if opt.kind_node_image != "upstream" and opt.cluster != "kind":
        raise pytest.UsageError(f"--kind-node-image is only for --cluster kind (got --cluster {opt.cluster})")
    for name in opt.system:
        if name not in SYSTEMS:
            raise pytest.UsageError(f"--system {name!r} is not a known document; choose from: "
                                    f"{', '.join(sorted(SYSTEMS))}")
    if opt.run_id is not None and not RUN_ID.fullmatch(opt.run_id):
        # It names the cluster (archconform-<id>), a label value and reports/.runs/<id>/.
        raise pytest.UsageError(f"--run-id {opt.run_id!r} is not usable: use 1-40 lowercase letters, digits "
                                "and '-', starting and ending with a letter or digit")
    if opt.profile and opt.profile != "base":
        systems_dir = _root(config) / "systems"
        if systems_dir.is_dir():
            names = opt.system or sorted(SYSTEMS)
            lacking = [n for n in names if not (systems_dir / n / "overlays" / opt.profile / "kustomization.yaml").is_file()]
            if lacking:
                known = sorted({d.name for d in systems_dir.glob("*/overlays/*") if (d / "kustomization.yaml").is_file()})
                raise pytest.UsageError(f"--profile {opt.profile!r} has no overlay systems/<system>/overlays/"
                                        f"{opt.profile} for {', '.join(lacking)}; choose one of: "
                                        f"{', '.join(['base', *known])}")


def _register_markers(config: pytest.Config) -> None:
    try:
        from .tags import TAGS
    except ImportError:  # pragma: no cover - tags module is part of the package
        TAGS = {}
    for name, description in TAGS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    for name, description in {
        "live": LIVE_REASON, "destructive": DESTRUCTIVE_REASON,
        "serial": "disrupts the whole cluster; runs alone",
        "known_gap": "the design itself breaks this promise (strict xfail with the reason from GAPS.yaml)",
    }.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def load_gaps(root: Path) -> dict[str, tuple[str, str]]:
    """gap id → (reason, file) from every features/<system>/GAPS.yaml."""
    gaps: dict[str, tuple[str, str]] = {}
    for path in sorted((root / "features").glob("*/GAPS.yaml")):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise pytest.UsageError(f"{path}: malformed YAML: {exc}".splitlines()[0]) from None
        if not isinstance(data, dict):
            raise pytest.UsageError(f"{path}: expected a mapping of gap id to reason")
        for gap_id, reason in data.items():
            if gap_id in gaps:
                raise pytest.UsageError(f"{path}: gap id {gap_id!r} already defined in {gaps[gap_id][1]}")
            gaps[str(gap_id)] = (str(reason).strip(), str(path))
    return gaps


class _TerminalProgress(logging.Handler):
    """Progress lines of long waits go straight to the terminal (not captured), with a clock."""

    def __init__(self, config: pytest.Config):
        super().__init__(level=logging.INFO)
        self.config = config

    def emit(self, record: logging.LogRecord) -> None:
        # Only live runs have long waits; elsewhere (offline runs, archconform's own tests against
        # the fake API server) progress stays in the captured log like any other record.
        if getattr(self.config.option, "cluster", "none") == "none":
            return
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        line = f"[archconform {time.strftime('%H:%M:%S')}] {self.format(record)}"

        def write() -> None:
            if tr is not None:
                tr.write_line(line)
            else:   # before the terminal reporter exists (a build during pytest_configure)
                sys.stderr.write(line + "\n")
                sys.stderr.flush()

        try:
            if capman is not None:
                with capman.global_and_fixture_disabled():
                    write()
            else:
                write()
        except Exception:  # never let progress output break a run
            pass


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _register_markers(config)
    if not hasattr(config.option, "cluster"):  # plugin loaded without its options (defensive)
        return
    _validate_options(config)
    config.stash[_GAPS_KEY] = load_gaps(_root(config))

    if _is_worker(config):
        run_id = config.workerinput["archconform_run_id"]
    else:
        run_id = config.option.run_id or time.strftime("%m%d%H%M") + "-" + secrets.token_hex(2)
    config.option.run_id = run_id
    os.environ.setdefault("ARCHCONFORM_ROOT", str(_root(config)))

    handler = _TerminalProgress(config)
    handler.setFormatter(logging.Formatter("%(message)s"))
    progress_log.addHandler(handler)
    progress_log.setLevel(logging.INFO)
    progress_log.propagate = True
    config._archconform_progress_handler = handler  # type: ignore[attr-defined]

    kind = config.option.cluster
    if kind == "none":
        return
    from .clusters.lifecycle import ClusterSession, install_sigterm_as_interrupt

    install_sigterm_as_interrupt()
    root = _root(config)
    owner = config.workerinput["archconform_owner_pid"] if _is_worker(config) else os.getpid()
    session = ClusterSession(kind=kind, run_id=run_id, workdir=root / "reports" / ".runs" / run_id, root=root,
                             keep=config.option.keep_cluster, reuse=config.option.reuse_cluster,
                             context=config.option.context, bootstrap=_bootstrap, owner_pid=owner,
                             options=_provider_options(config))
    config.stash[_SESSION_KEY] = session
    if not _is_worker(config):
        try:
            session.check_prerequisites()
            session.provider().prepare()   # kwok: build the control plane if it is not cached
            if kind == "existing":
                _check_existing(config, session)
        except ArchconformError as exc:
            raise pytest.UsageError(str(exc)) from None
        session.register_atexit()


def _check_existing(config: pytest.Config, session) -> None:
    """Wrong context or unreachable API server: one line, within seconds, before any test."""
    from .kube import Kube

    provider = session.provider()
    with Kube(provider._kubeconfig_path(), config.option.context, Timeouts.for_cluster("existing")) as kube:
        kube.check_reachable()


def _bootstrap(provider, handle) -> None:
    from .clusters.bootstrap import bootstrap_cluster

    bootstrap_cluster(provider, handle)


def pytest_configure_node(node) -> None:  # pytest-xdist hook (only called when xdist is active)
    node.workerinput["archconform_run_id"] = node.config.option.run_id
    node.workerinput["archconform_owner_pid"] = os.getpid()   # the controller deletes the cluster


def pytest_unconfigure(config: pytest.Config) -> None:
    handler = getattr(config, "_archconform_progress_handler", None)
    if handler is not None:
        progress_log.removeHandler(handler)


# --------------------------------------------------------------------------------------------
# tags → markers
# --------------------------------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_bdd_apply_tag(tag: str, function):
    """`@gap:<id>` becomes a strict xfail with the reason from GAPS.yaml; other tags are markers."""
    if not tag.startswith("gap:"):
        return None
    from pytest_bdd.plugin import CONFIG_STACK  # the config pytest-bdd is collecting for

    gap_id = tag[len("gap:"):]
    gaps = CONFIG_STACK[-1].stash.get(_GAPS_KEY, {}) if CONFIG_STACK else {}
    if gap_id not in gaps:
        raise UsageError(f"tag @gap:{gap_id}: no such gap id in features/*/GAPS.yaml")
    reason, _ = gaps[gap_id]
    return pytest.mark.xfail(strict=True, raises=PromiseBroken, reason=f"known gap ({gap_id}): {reason}")(function)


# --------------------------------------------------------------------------------------------
# collection: --system, live skips, destructive guard, serial grouping
# --------------------------------------------------------------------------------------------
def scenario_of(item: pytest.Item):
    """The pytest-bdd ScenarioTemplate behind an item, or None for plain tests."""
    try:
        from pytest_bdd.scenario import scenario_wrapper_template_registry
    except ImportError:  # pragma: no cover
        return None
    func = getattr(item, "obj", None)
    return scenario_wrapper_template_registry.get(func) if func is not None else None


def system_of(item: pytest.Item) -> str | None:
    """features/<system>/x.feature → <system>."""
    scenario = scenario_of(item)
    if scenario is None:
        return None
    parts = Path(scenario.feature.filename).parts
    if "features" in parts:
        idx = len(parts) - 1 - parts[::-1].index("features")
        if idx + 1 < len(parts) - 1:
            return parts[idx + 1]
    return None


#: Areas whose promise itself needs a capability whatever the steps say: a probes scenario judges
#: readiness that only real probes decide, a storage scenario pods that only real volumes let
#: start ("reaches 2 ready replicas" is also an autoscaling step, which simulated nodes can show).
AREA_NEEDS = {"probes": frozenset({"probes"}), "storage": frozenset({"volumes"})}


def _provider_options(config: pytest.Config) -> dict:
    return {"node_image": config.option.kind_node_image} if config.option.cluster == "kind" else {}


def _lacks(kind: str, options: dict | None = None) -> dict[str, str]:
    return {} if kind == "none" else provider_class(kind).lacks_for(options)


#: What makes a live scenario costly, in the order --smoke avoids it.
SMOKE_COSTS = ("serial", "destructive", "slow", "known_gap")
#: Never picked by --smoke: a Locust scenario can spend its whole scale-up budget (15 min) when the
#: machine cannot produce the load (measured on 2 cores: finch's backend held at 9 of 10 replicas).
SMOKE_NEVER = ("load",)


def smoke_pick(items: list) -> list:
    """--smoke: of each (document, area), the cheapest observed scenario, in collection order.

    Cost is the tuple of SMOKE_COSTS markers a scenario carries (a scenario with none of them
    beats a serial one, and so on); ties go to the first collected. Items that are not live
    scenarios of a document, and SMOKE_NEVER ones (load), are left out."""
    from .tags import AREA_TAGS

    best: dict[tuple[str, str], tuple[tuple[bool, ...], int]] = {}
    for index, item in enumerate(items):
        system = system_of(item)
        if system is None or not item.get_closest_marker("live") or not item.get_closest_marker("observed") \
                or any(item.get_closest_marker(m) for m in SMOKE_NEVER):
            continue
        cost = tuple(item.get_closest_marker(m) is not None for m in SMOKE_COSTS)
        for area in (name for name in AREA_TAGS if item.get_closest_marker(name)):
            if (system, area) not in best or cost < best[(system, area)][0]:
                best[(system, area)] = (cost, index)
    chosen = sorted({index for _, index in best.values()})
    return [items[i] for i in chosen]


def scenario_needs(item: pytest.Item) -> set[str]:
    """Capabilities the scenario's steps declare (steps._vocabulary.needs), plus its area's."""
    scenario = scenario_of(item)
    if scenario is None:
        return set()
    callspec = getattr(item, "callspec", None)
    example = (callspec.params.get("_pytest_bdd_example") if callspec else None) or {}
    try:
        steps = scenario.render(example).steps
    except Exception:  # noqa: BLE001 - an unrenderable outline fails at run time with its own error
        steps = scenario.steps
    contexts = list(step_function_context_registry.values())
    needs: set[str] = set()
    for step in steps:
        for ctx in contexts:
            if ctx.type in (None, step.type) and ctx.parser.is_matching(step.name):
                needs |= set(getattr(ctx.step_func, "archconform_needs", ()))
    for marker in item.iter_markers():
        needs |= AREA_NEEDS.get(marker.name, frozenset())
    return needs


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config.option, "cluster"):
        return
    wanted = set(config.option.system)
    if wanted:
        keep, drop = [], []
        for item in items:
            sys_name = system_of(item)
            (keep if sys_name is None or sys_name in wanted else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    if getattr(config.option, "smoke", False):
        keep = smoke_pick(items)
        drop = [item for item in items if item not in keep]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [item for item in items if item in keep]
    kind = config.option.cluster
    lacks = _lacks(kind, _provider_options(config))
    for item in items:
        if item.get_closest_marker("live") and kind == "none":
            item.add_marker(pytest.mark.skip(reason=LIVE_REASON))
        elif item.get_closest_marker("live") and lacks:
            missing = sorted(scenario_needs(item) & set(lacks))
            if missing:
                reason = "; ".join(dict.fromkeys(lacks[m] for m in missing))
                item.add_marker(pytest.mark.skip(reason=f"--cluster {kind} cannot show this: {reason}"))
        elif item.get_closest_marker("destructive") and kind == "existing" and not config.option.allow_destructive:
            item.add_marker(pytest.mark.skip(reason=DESTRUCTIVE_REASON))
        if item.get_closest_marker("serial") or item.get_closest_marker("destructive"):
            item.add_marker(pytest.mark.xdist_group("serial"))


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def run_id(pytestconfig: pytest.Config) -> str:
    """This run's id: in the cluster name and the archconform.io/run-id label of everything created."""
    return pytestconfig.option.run_id


@pytest.fixture(scope="session")
def cluster_kind(pytestconfig: pytest.Config) -> str:
    return pytestconfig.option.cluster


@pytest.fixture(scope="session")
def timeouts(cluster_kind: str) -> Timeouts:
    """Named timeouts for this cluster kind (archconform.settings.Timeouts)."""
    return Timeouts.for_cluster(cluster_kind)


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config, cluster_kind: str) -> str:
    """The kustomize profile deployed and checked: base carries the document's own numbers."""
    return pytestconfig.option.profile or PROFILE_FOR_CLUSTER[cluster_kind]


@pytest.fixture(scope="session")
def workload_image(pytestconfig: pytest.Config) -> str:
    from .clusters.base import WORKLOAD_IMAGE

    return pytestconfig.option.workload_image or WORKLOAD_IMAGE


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config):
    """The run's live cluster (created on first use, shared by xdist workers, deleted at the end)."""
    session = pytestconfig.stash.get(_SESSION_KEY, None)
    if session is None:
        pytest.skip(LIVE_REASON)
    handle = session.acquire()
    try:
        from .report import pytest_plugin as report_plugin

        report_plugin.set_environment(**{f"cluster.{k}": v for k, v in handle.describe().items()
                                         if k not in ("kubeconfig", "container_id")})
    except (ImportError, AttributeError):
        pass
    return handle


@pytest.fixture(scope="session")
def kube(cluster, timeouts, run_id):
    """archconform.kube.Kube bound to the run's cluster; what it applies carries this run's id."""
    from .kube import Kube

    client = Kube(cluster.kubeconfig, cluster.context, timeouts, run_id=run_id)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _live_cluster_lock(request: pytest.FixtureRequest, pytestconfig: pytest.Config):
    """Serial scenarios hold the cluster alone; other live scenarios share it (a reader-writer lock)."""
    session = pytestconfig.stash.get(_SESSION_KEY, None)
    node = request.node
    if session is None or not node.get_closest_marker("live"):
        yield
        return
    import fasteners

    session.workdir.mkdir(parents=True, exist_ok=True)
    lock = fasteners.InterProcessReaderWriterLock(str(session.workdir / "serial.lock"))
    exclusive = bool(node.get_closest_marker("serial") or node.get_closest_marker("destructive"))
    with (lock.write_lock() if exclusive else lock.read_lock()):
        yield


# --------------------------------------------------------------------------------------------
# one-line errors
# --------------------------------------------------------------------------------------------
def pytest_bdd_before_step(request, feature, scenario, step, step_func) -> None:
    request.node.stash[_STEP_KEY] = {"feature": feature.rel_filename, "scenario": scenario.name,
                                     "step": f"{step.keyword} {step.name}", "line": step.line_number}


def pytest_bdd_step_func_lookup_error(request, feature, scenario, step, exception) -> None:
    request.node.stash[_STEP_KEY] = {"feature": feature.rel_filename, "scenario": scenario.name,
                                     "step": f"{step.keyword} {step.name}", "line": step.line_number,
                                     "unknown": True}


_SHORT = (ArchconformError, PromiseBroken, PlatformGap)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.excinfo is None or report.passed or report.skipped:
        return report
    where = item.stash.get(_STEP_KEY, None)
    exc = call.excinfo.value
    from pytest_bdd.exceptions import StepDefinitionNotFoundError

    if where and isinstance(exc, StepDefinitionNotFoundError):
        report.longrepr = (f"{where['feature']}:{where['line']}: unknown step {where['step']!r} in scenario "
                           f"{where['scenario']!r} (the vocabulary is in docs/steps.md)")
    elif isinstance(exc, _SHORT):
        head = f"{where['feature']}:{where['line']}: {where['step']}\n" if where else ""
        kind = "" if isinstance(exc, AssertionError) else f"{type(exc).__name__}: "
        report.longrepr = f"{head}{kind}{exc}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A malformed feature or a broken gap reference: one line naming the file, not a traceback."""
    report = yield
    if report.failed and report.longrepr is not None:
        line = one_line_collect_error(str(report.longrepr))
        if line:
            report.longrepr = line
    return report


_GHERKIN = re.compile(r"pytest_bdd\.exceptions\.(\w+): (?P<msg>.*?)\n(?:E\s+)?Line number: (?P<line>\d+)\n"
                      r"(?:E\s+)?Line: (?P<content>.*?)\n(?:E\s+)?File: (?P<file>\S+)", re.S)
_OURS = re.compile(r"archconform\.errors\.(\w+): (?P<msg>[^\n]+)")


def one_line_collect_error(text: str) -> str | None:
    """Condense a collection error of a known kind into 'file:line: what is wrong'."""
    m = _GHERKIN.search(text)
    if m:
        try:
            rel = os.path.relpath(m["file"])
        except ValueError:
            rel = m["file"]
        msg = " ".join(part.strip() for part in re.sub(r"(?m)^E\s+", "", m["msg"]).splitlines() if part.strip())
        return f"{rel}:{m['line']}: malformed feature: {msg} (near: {m['content'].strip()!r})"
    m = _OURS.search(text)
    if m:
        return m["msg"].strip()
    return None


# --------------------------------------------------------------------------------------------
# session end: the owner deletes the cluster
# --------------------------------------------------------------------------------------------
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    cluster_session = config.stash.get(_SESSION_KEY, None)
    if cluster_session is None or _is_worker(config):
        return
    try:
        cluster_session.release()
    except ArchconformError as exc:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        message = f"archconform: could not delete the run's cluster: {exc}"
        if tr:
            tr.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
