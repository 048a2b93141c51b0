"""pytest plugin: Allure results, labels, redaction and the sign-off summary for a conformance run.

Register it before pytest configures (``pytest_plugins = ["archconform.report.pytest_plugin"]``
in archconform/plugin.py, or ``-p archconform.report.pytest_plugin``); registered later it still
works (``pytest_sessionstart`` starts Allure recording itself), but register it early.

What it does, in hook order:

- ``pytest_addoption``: ``--reports-dir DIR`` (default ``<rootdir>/reports``) and
  ``--allure-report`` (generate the HTML report at the end of the run).
- ``pytest_configure`` (tryfirst, before allure-pytest-bdd reads ``config.option.allure_report_dir``):
  installs log redaction; on a conformance run (the command line names the features directory,
  or one of ``--alluredir``/``--reports-dir``/``--allure-report`` is given) defaults
  ``--alluredir`` to ``<reports-dir>/allure-results`` (an explicit ``--alluredir`` wins). A
  defaulted results directory is emptied first, so a report never mixes two runs; an explicit one
  only with ``--clean-alluredir``. Cleaning happens once, here in the controller: allure's own
  per-process clean would race between xdist workers. Writes categories.json (and executor.json
  on GitHub Actions).
- ``pytest_collection_modifyitems``: reads each scenario's feature file facts
  (``scenarios.ScenarioInfo``) and adds Allure labels as markers: epic/parentSuite = document
  title, feature/suite = area, story = promise, severity, evidence + layer = level of evidence,
  system, tags that are not already markers (``gap:<id>``), and a link to the cited section.
- ``pytest_runtest_protocol``: tracks the running scenario for the attach/record helpers.
- ``pytest_runtest_makereport`` (innermost wrapper): records each scenario's outcome (passed,
  failed, known gap, platform gap, error, skipped with reason); makes allure-pytest-bdd write a
  result for a scenario skipped or broken during setup (it otherwise writes none, and the report
  would silently miss every live scenario of an offline run); redacts captured output and the
  failure text before the terminal and Allure see them.
- ``pytest_sessionfinish``: xdist workers hand their rows, facts and registered secrets to the
  controller through ``config.workeroutput`` (``pytest_testnodedown`` merges them); the
  controller (or the only process) writes environment.properties, sweeps the results through
  ``redact`` (the guarantee: nothing under the results escapes it), writes reports/signoff.md,
  .html and .json, and with ``--allure-report`` generates the HTML report.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ..errors import ArchconformError, PlatformGap
from .environment import offline_facts, simulated_kind, write_categories, write_environment, write_executor
from .evidence import COLLECTOR, set_environment  # noqa: F401 (set_environment: for the cluster fixture)
from .redact import (install_log_redaction, redact, redact_tree, register_secret,
                     registered_secrets, uninstall_log_redaction)
from .scenarios import SIMULATED_OBSERVED, ScenarioInfo, area_tags_from_markers, build_info, level_label
from .signoff import write_signoff

WORKER_KEY = "archconform_report"


@dataclass
class ReportState:
    active: bool = False
    worker: bool = False
    reports_dir: Path = Path("reports")
    results_dir: Path | None = None
    features_dir: Path = Path("features")
    default_alluredir: bool = False
    signoff: Path | None = None
    report_index: Path | None = None
    report_error: str | None = None
    notes: list[str] = field(default_factory=list)


STATE_KEY = pytest.StashKey[ReportState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("archconform-report", "archconform report")
    group.addoption("--reports-dir", dest="archconform_reports_dir", default=None, metavar="DIR",
                    help="where the run writes allure-results (unless --alluredir), signoff.md/.html "
                         "and, with --allure-report, allure-report/ (default: $ARCHCONFORM_REPORTS_DIR, "
                         "else <rootdir>/reports)")
    group.addoption("--report-url", dest="archconform_report_url", default=None, metavar="URL",
                    help="absolute URL the HTML report will be published at; cited-section links "
                         "are then absolute (clickable in Allure 3). Default: $ARCHCONFORM_REPORT_URL, "
                         "else links relative to the report")
    group.addoption("--allure-report", dest="archconform_allure_report", action="store_true",
                    default=False,
                    help="generate the Allure HTML report at the end of the run "
                         "(same as `python -m archconform.report generate`)")


def _features_dir(config: pytest.Config) -> Path:
    try:
        base = config.getini("bdd_features_base_dir")
    except ValueError:
        base = ""
    base = base or "features"
    path = Path(base)
    return (path if path.is_absolute() else config.rootpath / path).resolve()


def _targets_features(config: pytest.Config, features_dir: Path) -> bool:
    """True if a path on the command line (or testpaths) is, contains or lies inside features/."""
    invocation = config.invocation_params.dir
    for arg in config.args:
        raw = str(arg).split("::", 1)[0]
        if not raw or raw.startswith("-"):
            continue
        path = Path(raw)
        path = (path if path.is_absolute() else invocation / path).resolve()
        if path == features_dir or features_dir in path.parents or path in features_dir.parents:
            return True
    return False


def _empty_dir(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    install_log_redaction()
    COLLECTOR.reset()
    state = ReportState(worker=hasattr(config, "workerinput"))
    config.stash[STATE_KEY] = state
    reports_opt = config.getoption("archconform_reports_dir", None) or os.environ.get("ARCHCONFORM_REPORTS_DIR")
    state.reports_dir = Path(reports_opt).resolve() if reports_opt else (config.rootpath / "reports").resolve()
    state.features_dir = _features_dir(config)
    allure = hasattr(config.option, "allure_report_dir")
    explicit = bool(allure and config.option.allure_report_dir)
    state.active = bool(explicit or reports_opt or config.getoption("archconform_allure_report", False)
                        or _targets_features(config, state.features_dir))
    if not allure:
        state.notes.append("allure-pytest-bdd is not loaded: no Allure results are written")
    if allure and not explicit and state.active:
        config.option.allure_report_dir = str(state.reports_dir / "allure-results")
        state.default_alluredir = True
    if allure and config.option.allure_report_dir:
        state.results_dir = Path(config.option.allure_report_dir).resolve()
    clean = state.default_alluredir or bool(getattr(config.option, "clean_alluredir", False))
    if allure:
        config.option.clean_alluredir = False  # cleaned once below, never per xdist worker
    if state.results_dir is None or state.worker or config.option.collectonly:
        return
    if clean and state.results_dir.is_dir():
        _empty_dir(state.results_dir)
    state.results_dir.mkdir(parents=True, exist_ok=True)
    write_categories(state.results_dir)
    write_executor(state.results_dir)


def _listener(config: pytest.Config) -> Any | None:
    try:
        from allure_pytest_bdd.pytest_bdd_listener import PytestBDDListener
    except ImportError:  # pragma: no cover
        return None
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, PytestBDDListener):
            return plugin
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.results_dir is None or _listener(config) is not None:
        return
    if config.pluginmanager.hasplugin("allure_pytest_bdd"):
        # Registered after allure-pytest-bdd configured (with no --alluredir then): start it now.
        from allure_pytest_bdd import plugin as allure_plugin

        allure_plugin.pytest_configure(config)


def _template(item: pytest.Item) -> Any | None:
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    try:
        return scenario_wrapper_template_registry.get(getattr(item, "obj", None))  # type: ignore[arg-type]
    except TypeError:
        return None


def _example(item: pytest.Item) -> dict[str, str]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params.get("_pytest_bdd_example", {}) or {}) if callspec else {}


def _area_tags(config: pytest.Config) -> set[str]:
    tags = area_tags_from_markers(config.getini("markers"))
    try:  # the features owner's vocabulary, when it exists
        from .. import tags as vocabulary  # type: ignore[attr-defined]

        tags |= set(getattr(vocabulary, "AREAS", ()) or ())
    except ImportError:
        pass
    return tags


def _allure_marks(item: pytest.Item, info: ScenarioInfo, *, simulated: bool) -> None:
    labels = [("epic", info.document), ("parentSuite", info.document), ("feature", info.area),
              ("suite", info.area), ("story", info.promise), ("system", info.system)]
    if info.severity:
        labels.append(("severity", info.severity))
    for level in info.levels:
        label = level_label(level, simulated=simulated)
        labels += [("evidence", label), ("layer", label)]
    plain = {m.name for m in item.iter_markers() if not m.args and not m.kwargs}
    labels += [("tag", tag) for tag in info.tags if tag not in plain]
    for name, value in labels:
        item.add_marker(pytest.mark.allure_label(value, label_type=name))
    if info.source_url:
        item.add_marker(pytest.mark.allure_link(
            info.source_url, name=f"{info.source_title} § {info.source_section}", link_type="link"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    areas = _area_tags(config)
    base_url = config.getoption("archconform_report_url", None) or os.environ.get("ARCHCONFORM_REPORT_URL") or None
    allure_on = _listener(config) is not None or state.results_dir is not None
    simulated = simulated_kind(getattr(config.option, "cluster", None))
    for item in items:
        template = _template(item)
        if template is None:
            continue
        example = _example(item)
        name = template.render(example).name if example else template.name
        tags = set(template.tags) | set(template.feature.tags)
        if template.rule is not None:
            tags |= set(template.rule.tags)
        info = build_info(
            nodeid=item.nodeid, feature_filename=template.feature.filename,
            feature_rel=template.feature.rel_filename, feature_name=template.feature.name,
            scenario_name=name, line=template.line_number, description=template.description,
            tags=tags, area_tags=areas, features_dir=state.features_dir, base_url=base_url,
        )
        COLLECTOR.infos[item.nodeid] = info.to_dict()
        if allure_on and config.pluginmanager.hasplugin("allure_pytest_bdd"):
            _allure_marks(item, info, simulated=simulated)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    COLLECTOR.current = item.nodeid
    try:
        return (yield)
    finally:
        COLLECTOR.current = None


def _schedule_unstarted(item: pytest.Item) -> None:
    """Have allure-pytest-bdd open a result for a scenario that never started (skipped or broken
    in setup), so it is written with its labels, its reason and its steps marked not run."""
    listener = _listener(item.config)
    template = _template(item)
    if listener is None or template is None or item.nodeid in listener.nodeid_to_uuid:
        return
    request = getattr(item, "_request", None) or SimpleNamespace(node=item, config=item.config)
    try:
        listener.pytest_bdd_before_scenario(request=request, feature=template.feature,
                                            scenario=template.render(_example(item)))
    except AssertionError:
        # Its last act, item.addfinalizer, is refused when setup stopped before the item was set
        # up (a skip mark, a parent's failure); the result is open: mark its steps not run now.
        from allure_pytest_bdd.steps import report_remaining_steps

        uuid = listener.nodeid_to_uuid.get(item.nodeid)
        if uuid is not None:
            report_remaining_steps(listener.lifecycle, item, uuid)


_KNOWN_GAP_PREFIX = re.compile(r"^known gap(?:\s*\([^)]*\))?\s*:\s*", re.I)


def _reason(text: Any, prefix: str | None = None) -> str:
    line = redact(str(text or "")).strip()
    if prefix == "known gap:":
        return _KNOWN_GAP_PREFIX.sub("", line)
    if prefix and line.startswith(prefix):
        line = line[len(prefix):].strip()
    return line


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return _reason(longrepr[2], "Skipped:")
    return _reason(longrepr, "Skipped:")


def _exception_outcome(excinfo: pytest.ExceptionInfo[BaseException] | None, phase: str) -> dict[str, str]:
    if excinfo is None:
        return {"verdict": "error", "reason": f"{phase} failed"}
    exc = excinfo.value
    message = _reason(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    if isinstance(exc, PlatformGap):
        return {"verdict": "platform gap", "reason": message}
    if isinstance(exc, (AssertionError, pytest.fail.Exception)) and phase == "call":
        return {"verdict": "failed", "reason": message}
    return {"verdict": "error", "reason": f"{type(exc).__name__} in {phase}: {message}"}


def _record_outcome(item: pytest.Item, call: pytest.CallInfo[Any], report: pytest.TestReport) -> None:
    nodeid = item.nodeid
    current = COLLECTOR.outcomes.get(nodeid)
    outcome: dict[str, str] | None = None
    wasxfail = getattr(report, "wasxfail", None)
    if report.when == "setup":
        if report.skipped:
            outcome = ({"verdict": "known gap", "reason": _reason(wasxfail, "known gap:")}
                       if wasxfail is not None else {"verdict": "skipped", "reason": _skip_reason(report)})
        elif report.failed:
            outcome = _exception_outcome(call.excinfo, "setup")
    elif report.when == "call":
        if wasxfail is not None and report.skipped:
            outcome = {"verdict": "known gap", "reason": _reason(wasxfail, "known gap:")}
        elif wasxfail is not None and report.passed:
            outcome = {"verdict": "unexpected pass", "reason": _reason(wasxfail)}
        elif report.passed:
            outcome = {"verdict": "passed", "reason": ""}
        elif report.skipped:
            outcome = {"verdict": "skipped", "reason": _skip_reason(report)}
        elif call.excinfo is None:  # strict xfail that passed: "[XPASS(strict)] reason"
            outcome = {"verdict": "unexpected pass", "reason": _reason(report.longrepr, "[XPASS(strict)]")}
        else:
            outcome = _exception_outcome(call.excinfo, "call")
    elif report.when == "teardown" and report.failed:
        if current is None or current.get("verdict") in ("passed", "skipped", "known gap"):
            outcome = _exception_outcome(call.excinfo, "teardown")
    if outcome is not None:
        outcome["phase"] = report.when
        COLLECTOR.outcomes[nodeid] = outcome


def _redact_report(report: pytest.TestReport) -> None:
    sections = [(title, redact(content)) for title, content in report.sections]
    if sections != report.sections:
        report.sections = sections
    longrepr = report.longrepr
    if longrepr is None:
        return
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        if redact(longrepr[2]) != longrepr[2]:
            report.longrepr = (longrepr[0], longrepr[1], redact(longrepr[2]))
        return
    text = str(longrepr)
    cleaned = redact(text)
    if cleaned != text:
        report.longrepr = cleaned


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    """Innermost: open an Allure result for a scenario that failed or skipped in setup, and
    redact the report before allure-pytest-bdd and the terminal read it."""
    if call.when == "setup" and call.excinfo is not None and item.nodeid in COLLECTOR.infos:
        _schedule_unstarted(item)
    report: pytest.TestReport = yield
    _redact_report(report)
    return report


@pytest.hookimpl(specname="pytest_runtest_makereport", wrapper=True, tryfirst=True)
def pytest_runtest_makereport_final(item: pytest.Item, call: pytest.CallInfo[Any]):
    """Outermost: record the outcome from the final report (after pytest's xfail handling turned
    a known gap's failure into ``wasxfail``), and the Allure result's uuid for the sign-off."""
    report: pytest.TestReport = yield
    if item.nodeid in COLLECTOR.infos:
        _record_outcome(item, call, report)
        listener = _listener(item.config)
        if listener is not None and item.nodeid in listener.nodeid_to_uuid:
            COLLECTOR.uuids[item.nodeid] = listener.nodeid_to_uuid[item.nodeid]
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: merge what a worker collected."""
    payload = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if not payload:
        return
    for secret in payload.get("secrets", []):
        register_secret(secret)
    COLLECTOR.merge(payload.get("data", {}))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    if state.worker:
        config.workeroutput[WORKER_KEY] = {  # type: ignore[attr-defined]
            "data": COLLECTOR.export(), "secrets": registered_secrets(),
        }
        return
    if not state.active or config.option.collectonly:
        return
    data = COLLECTOR.export()
    facts = offline_facts(config.rootpath, cluster_kind=getattr(config.option, "cluster", None))
    if getattr(config.option, "run_id", None):
        facts["run_id"] = str(config.option.run_id)
    facts.update(data.get("facts", {}))
    if state.results_dir is not None:
        write_environment(state.results_dir, facts)
        redact_tree(state.results_dir)
    report_dir = state.reports_dir / "allure-report"
    md, _html = write_signoff(state.reports_dir, data, facts, report_dir=report_dir)
    redact_tree_files = [md, state.reports_dir / "signoff.html", state.reports_dir / "signoff.json"]
    from .redact import redact_file

    for path in redact_tree_files:
        redact_file(path)
    state.signoff = md
    if config.getoption("archconform_allure_report", False):
        from .generate import Paths, find_root, generate

        try:
            if state.results_dir is None:
                raise ArchconformError("--allure-report needs Allure results (allure-pytest-bdd "
                                       "is not loaded)")
            paths = Paths(results=state.results_dir, output=report_dir,
                          history=state.reports_dir / "history.jsonl",
                          root=find_root(config.rootpath))
            state.report_index = generate(paths)
        except ArchconformError as exc:
            state.report_error = str(exc)
            if session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.worker or not state.active:
        return
    tr = terminalreporter
    if simulated_kind(getattr(config.option, "cluster", None)):
        tr.write_line(f"archconform report: every live verdict of this run is {SIMULATED_OBSERVED}: the API "
                      "server, controllers and scheduler are real; no container ran", yellow=True)
    for note in state.notes:
        tr.write_line(f"archconform report: {note}")
    if state.results_dir is not None:
        tr.write_line(f"archconform report: Allure results in {state.results_dir}")
    if state.signoff is not None:
        tr.write_line(f"archconform report: sign-off summary {state.signoff} (and .html)")
    if state.report_index is not None:
        tr.write_line(f"archconform report: Allure HTML report {state.report_index}")
    if state.report_error is not None:
        tr.write_line(f"archconform report: ERROR generating the HTML report: {state.report_error}",
                      red=True, bold=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall_log_redaction()
    COLLECTOR.current = None
