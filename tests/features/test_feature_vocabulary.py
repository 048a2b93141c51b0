"""docs/steps.md and the step modules agree, and every feature step resolves to one phrase."""

from __future__ import annotations

import pytest

from feature_corpus import (compile_phrase, documented, matching_documented, matching_registered, registered,
                            scenarios, template_of)


def test_the_vocabulary_is_documented_and_not_empty():
    sections = {p.section for p in documented()}
    assert {"Given", "Declared", "Modeled", "Live vocabulary"} <= sections, sections
    assert len([p for p in documented() if p.live]) >= 10


def test_every_registered_step_is_documented_with_its_keyword():
    # live phrases are registered as the live issues implement them; offline ones always are
    docs = {(p.type, p.template) for p in documented()}
    missing = [f"{c.type} `{template_of(c)}` ({c.step_func.__module__})" for c in registered()
               if (c.type, template_of(c)) not in docs]
    assert not missing, "registered steps missing from docs/steps.md:\n" + "\n".join(missing)


def test_every_documented_offline_phrase_is_registered():
    reg = {(c.type, template_of(c)) for c in registered()}
    missing = [f"docs/steps.md:{p.line}: {p.type} `{p.template}`" for p in documented()
               if not p.live and (p.type, p.template) not in reg]
    assert not missing, "documented phrases with no step definition:\n" + "\n".join(missing)


def test_declared_steps_are_then_steps_in_their_section():
    for p in documented():
        if p.section in ("Declared", "Modeled"):
            assert p.type == "then", f"docs/steps.md:{p.line}: {p.section} phrases are Then steps"


@pytest.mark.parametrize("phrase", documented(), ids=lambda p: p.template[:60])
def test_every_example_matches_its_phrase_and_only_it(phrase):
    assert phrase.example_type in (phrase.type, "and"), f"docs/steps.md:{phrase.line}: example keyword"
    assert compile_phrase(phrase.template).is_matching(phrase.example), (
        f"docs/steps.md:{phrase.line}: example {phrase.example!r} does not match `{phrase.template}`")
    hits = matching_documented(phrase.type, phrase.example)
    assert [h.template for h in hits] == [phrase.template], (
        f"docs/steps.md:{phrase.line}: example {phrase.example!r} matches {len(hits)} phrases: "
        + "; ".join(h.template for h in hits))
    registered_hits = matching_registered(phrase.type, phrase.example)
    if not phrase.live:
        assert len(registered_hits) == 1, f"docs/steps.md:{phrase.line}: {len(registered_hits)} step definitions"
    else:
        assert len(registered_hits) <= 1, f"docs/steps.md:{phrase.line}: {len(registered_hits)} step definitions"


def test_live_phrases_are_not_shadowed_by_registered_offline_steps():
    for p in documented():
        if p.live:
            clash = [template_of(c) for c in matching_registered(p.type, p.example) if template_of(c) != p.template]
            assert not clash, f"docs/steps.md:{p.line}: live example also matches {clash}"


def _all_steps():
    for sc in scenarios():
        for st in sc.steps:
            yield sc, st


def test_every_feature_step_matches_exactly_one_documented_phrase():
    problems = []
    for sc, st in _all_steps():
        hits = matching_documented(st.type, st.text)
        if len(hits) != 1:
            problems.append(f"{sc.where} line {st.line}: {st.type} {st.text!r} matches {len(hits)} phrases"
                            + (": " + "; ".join(h.template for h in hits) if hits else ""))
    assert not problems, "\n".join(problems)


def test_every_step_of_an_offline_scenario_resolves_to_one_step_definition():
    problems = []
    for sc, st in _all_steps():
        if "offline" not in sc.tags:
            continue
        hits = matching_registered(st.type, st.text)
        if len(hits) != 1:
            problems.append(f"{sc.where} line {st.line}: {st.type} {st.text!r} resolves to {len(hits)} step definitions")
    assert not problems, "\n".join(problems)


def test_offline_scenarios_use_no_live_phrase_and_live_phrases_stay_in_live_scenarios():
    problems = []
    for sc, st in _all_steps():
        hits = matching_documented(st.type, st.text)
        if hits and hits[0].live and "live" not in sc.tags:
            problems.append(f"{sc.where} line {st.line}: live phrase {hits[0].template!r} in a scenario not tagged @live")
    assert not problems, "\n".join(problems)


def test_the_phrase_matcher_rejects_what_it_should():
    declares = compile_phrase('the {kind} "{ref}" declares {field} = {value}')
    assert declares.is_matching('the Deployment "a/b" declares spec.replicas = 3')
    # a kind is one capitalised word and a quoted parameter never spans a quote
    assert not declares.is_matching('the container "api" of the Deployment "a/b" declares x = 1')
    assert not declares.is_matching('the deployment "a/b" declares spec.replicas = 3')
    duration = compile_phrase('the rollout completes within {duration}')
    assert not duration.is_matching('the rollout completes within 5 minutes')
