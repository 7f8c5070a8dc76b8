"""harness.groups on synthetic results documents: grouping by origin.KEY, the candidate
with no value, the verdict rule both ways, pass@k records and the separating checks."""

from __future__ import annotations

from typing import Any

import pytest

from harness import groups, stats
from harness.errors import UsageError
from tests.results_docs import Check, candidate, document


def _checks(trial: int, fail_fatal: bool, fail_retry: bool) -> list[Check]:
    return [(trial, "crash-loop", "log_durable", "durable_log", "fatal",
             "fail" if fail_fatal else "pass"),
            (trial, "clean-run", "retries_counted", "retries", "major",
             "fail" if fail_retry else "pass"),
            (trial, "clean-run", "order_kept", "dependency_order", "minor", "pass")]


def _cand(name: str, model: str, scores: list[float | None], *, fatal: bool = False,
          retry: bool = False, prompt: str = "v1") -> dict[str, Any]:
    checks = [c for t in range(len(scores)) for c in _checks(t, fatal, retry)]
    return candidate(name, scores, checks, {"model": model, "prompt_version": prompt})


def study() -> list[dict[str, Any]]:
    """strong: near 10, no failures; weak and weak-twin: the same low scores, the same
    failures; two runs, as one run per model would be."""
    strong = [_cand(f"strong-{i}", "strong", [s, s]) for i, s in enumerate([10, 10, 9.5, 9.8, 10])]
    weak = [_cand(f"weak-{i}", "weak", [s, s - 1], fatal=True, retry=True, prompt="v2")
            for i, s in enumerate([4, 3, 5, 4.5, 3.5])]
    twin = [_cand(f"twin-{i}", "weak-twin", [s, s - 1], fatal=True, retry=True, prompt="v2")
            for i, s in enumerate([3.5, 4, 4.5, 5, 3])]
    return [document(strong + weak, trials=2), document(twin, trials=2)]


def test_groups_by_model_best_first_with_their_members() -> None:
    cmp = groups.compare(study(), seed=5)
    assert [g.name for g in cmp.groups] == ["strong", "weak", "weak-twin"]
    strong = cmp.groups[0]
    assert strong.n == 5 and all(g.keyed for g in cmp.groups)
    assert strong.mean == pytest.approx((10 + 10 + 9.5 + 9.8 + 10) / 5)
    assert strong.interval is not None and strong.interval[0] <= strong.mean <= strong.interval[1]
    assert strong.interval == stats.bootstrap_mean(list(strong.scores), seed=5)
    assert {m.run for m in cmp.groups[1].members} == {0} and cmp.groups[2].members[0].run == 1
    assert cmp.groups[1].members[0].score == 3.5  # the mean of its two trials, 4 and 3


def test_group_by_another_origin_key() -> None:
    cmp = groups.compare(study(), key="origin.prompt_version")
    assert [(g.name, g.n) for g in cmp.groups] == [("v1", 5), ("v2", 10)]


def test_a_candidate_without_the_key_is_a_group_of_its_own() -> None:
    docs = study()
    docs[1]["candidates"]["twin-0"]["origin"]["model"] = ""
    cmp = groups.compare(docs)
    alone = next(g for g in cmp.groups if not g.keyed)
    assert alone.name == "twin-0" and [m.name for m in alone.members] == ["twin-0"]
    assert alone.interval is None  # one candidate: no interval, said as such
    assert next(g for g in cmp.groups if g.name == "weak-twin").n == 4


@pytest.mark.parametrize("key", ["model", "origin.", "origin.a.b", "sample.model"])
def test_group_by_refuses_what_is_not_origin_key(key: str) -> None:
    with pytest.raises(UsageError, match="origin.KEY"):
        groups.compare(study(), key=key)


def test_verdict_says_greater_only_when_the_interval_excludes_zero() -> None:
    cmp = groups.compare(study(), seed=1)
    by = {(p.a, p.b): p for p in cmp.pairs}
    assert len(cmp.pairs) == 3
    sw = by[("strong", "weak")]
    assert sw.verdict == "strong > weak" and sw.interval is not None and sw.interval[0] > 0
    assert sw.p is not None and sw.p < 0.05
    tw = by[("weak", "weak-twin")]
    assert tw.interval is not None and tw.interval[0] < 0 < tw.interval[1]
    assert tw.verdict == "not distinguishable with n = 5, 5"
    assert tw.p is not None and tw.p > 0.5


def test_verdict_names_the_better_group_when_it_is_second() -> None:
    a = groups.group("a", True, [(groups.member(c["name"], 0, c), c)
                                 for c in (_cand("a1", "a", [2.0]), _cand("a2", "a", [3.0]))], 0)
    b = groups.group("b", True, [(groups.member(c["name"], 0, c), c)
                                 for c in (_cand("b1", "b", [8.0]), _cand("b2", "b", [9.0]))], 0)
    assert groups.verdict(a, b, (-7.0, -5.0)) == "b > a"
    assert groups.verdict(a, b, (-7.0, 0.0)) == "not distinguishable with n = 2, 2"
    assert groups.verdict(a, b, None) == "not distinguishable with n = 2, 2"


def test_pass_at_k_records() -> None:
    docs = study()
    # strong-2 scored 9.5: not 10 in every trial; strong-0 scores 10 in one trial of two only
    docs[0]["candidates"]["strong-0"]["per_trial"][1]["score"] = 9.0
    strong = groups.compare(docs).groups[0]
    assert sum(m.scores_10 for m in strong.members) == 2  # strong-1 and strong-4
    assert strong.pass_10 == tuple(stats.pass_at_k(5, 2, k) for k in range(1, 6))
    assert strong.pass_10[0] == pytest.approx(2 / 5) and strong.pass_10[-1] == 1.0
    assert strong.pass_no_fatal == (1.0,) * 5
    weak = groups.compare(docs).groups[1]
    assert weak.pass_no_fatal == (0.0,) * 5 and weak.pass_10 == (0.0,) * 5


def test_pass_at_k_falls_back_to_score_and_checks_without_per_trial() -> None:
    c = _cand("old", "m", [10.0], fatal=True)
    del c["per_trial"]
    m = groups.member("old", 0, c)
    assert m.scores_10 and not m.no_fatal


def test_capability_rates_count_every_check_result_with_wilson() -> None:
    weak = groups.compare(study()).groups[1]
    caps = dict(weak.capabilities)
    assert list(caps) == ["durable_log", "retries", "dependency_order"]  # CAPABILITIES order
    assert (caps["durable_log"].passed, caps["durable_log"].failed) == (0, 10)  # 5 x 2 trials
    assert caps["dependency_order"].rate == 1.0
    assert caps["dependency_order"].interval == stats.wilson(10, 10)


def test_the_checks_that_separate_a_pair_most() -> None:
    pair = next(p for p in groups.compare(study()).pairs if (p.a, p.b) == ("strong", "weak"))
    assert [(s.check, s.rate_a, s.rate_b) for s in pair.separating] == [
        ("log_durable", 1.0, 0.0), ("retries_counted", 1.0, 0.0)]  # order_kept: same rate
    twins = next(p for p in groups.compare(study()).pairs if p.b == "weak-twin" and p.a == "weak")
    assert twins.separating == ()


def test_a_group_with_no_scores_sorts_last_and_is_not_distinguishable() -> None:
    docs = study()
    docs[1]["candidates"] = {"none": _cand("none", "empty", [None])}
    cmp = groups.compare(docs)
    last = cmp.groups[-1]
    assert last.name == "empty" and last.mean is None and last.interval is None
    p = next(p for p in cmp.pairs if p.b == "empty")
    assert p.diff is None and p.p is None and p.verdict.endswith("n = 5, 0")
