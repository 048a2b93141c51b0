"""Every step of every @live scenario in features/ resolves to exactly one step implementation,
whose arguments can all be supplied (by its phrase, a fixture, or an earlier step's
target_fixture), so that a live run never stops at "unknown step" on a cluster.

The feature files are parsed with pytest-bdd's own parser and each step is matched against the
registered step definitions the way pytest-bdd resolves them (by step type and parser), cluster
or not. The checker is also run on a scenario it must reject, so it can fail.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest

from feature_corpus import ScenarioInfo, StepUse, matching_registered, registered, scenarios, template_of

#: Step arguments pytest-bdd supplies itself.
RESERVED = {"datatable", "docstring", "request"}


@dataclass(frozen=True)
class Unresolved:
    where: str
    step: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.step}: {self.why}"


def _parser_args(ctx, text: str) -> set[str]:
    try:
        return set((ctx.parser.parse_arguments(text) or {}).keys())
    except Exception:  # noqa: BLE001 - a parser that cannot name its arguments names none
        return set()


def unresolved(live_scenarios, available_fixtures: set[str]) -> list[Unresolved]:
    """Steps of the scenarios with no implementation, several, or an argument nobody supplies."""
    targets = {c.target_fixture for c in registered() if c.target_fixture}
    found = []
    for sc in live_scenarios:
        for st in sc.steps:
            label = f"{st.type.capitalize()} {st.text}"
            hits = matching_registered(st.type, st.text)
            if len(hits) != 1:
                why = ("no step implementation" if not hits else
                       f"{len(hits)} implementations: " + "; ".join(template_of(h) for h in hits))
                found.append(Unresolved(f"{sc.where} line {st.line}", label, why))
                continue
            ctx = hits[0]
            wanted = set(inspect.signature(ctx.step_func).parameters) - RESERVED
            missing = wanted - _parser_args(ctx, st.text) - available_fixtures - targets
            if missing:
                found.append(Unresolved(f"{sc.where} line {st.line}", label,
                                        f"{ctx.step_func.__module__} needs {', '.join(sorted(missing))}, "
                                        f"which no phrase argument, fixture or earlier step supplies"))
    return found


@pytest.fixture
def available_fixtures(request) -> set[str]:
    """Every fixture name visible to a scenario (the plugin's, the step modules', pytest's)."""
    manager = request._fixturemanager
    # The name → definitions map is private and was renamed in pytest 9.2; its keys are the
    # fixture names in every version, and getfixturedefs() says which are visible here.
    names = next((getattr(manager, attr) for attr in ("_arg2fixturedefs", "_arg2node2fixturedefs",
                                                      "_arg2nodeid2fixturedefs") if hasattr(manager, attr)), None)
    assert names is not None, "pytest's FixtureManager changed: update available_fixtures()"
    return {name for name in names if manager.getfixturedefs(name, request.node)}


def _live():
    return [s for s in scenarios() if "live" in s.tags]


def test_there_are_live_scenarios_to_check():
    assert len(_live()) >= 20
    assert {s.system for s in _live()} == {"csa_hello", "tbyte", "finch", "platform_go", "itdo_erp"}


def test_no_live_step_used_in_features_lacks_an_implementation(available_fixtures):
    problems = unresolved(_live(), available_fixtures)
    phrases = sorted({p.step for p in problems})
    assert not problems, (f"{len(problems)} live step use(s), {len(phrases)} distinct phrase(s), do not "
                          f"resolve:\n" + "\n".join(map(str, problems)))


def test_the_checker_rejects_an_unknown_phrase_and_a_missing_fixture(available_fixtures):
    bogus = ScenarioInfo(system="tbyte", file="x.feature", name="bogus", tags=frozenset({"live"}),
                         description="", line=1, steps=(
                             StepUse("then", "the moon is made of cheese", 2),
                             StepUse("then", 'every pod of the Deployment "tbyte/backend" answers HTTP GET /health on port 80', 3)))
    problems = unresolved([bogus], available_fixtures)
    assert [p.why for p in problems] == ["no step implementation"]
    problems = unresolved([bogus], available_fixtures - {"kube"})
    assert problems[-1].why.startswith("steps.live_probes needs kube, which no phrase argument")
