"""Unit tests for design signals, the claims-vs-delivered matrix and scoring profiles."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.api import ROOT, scoring_data
from harness.errors import ScoringDataError, UsageError
from harness.intent import Cell, Intent, find_signals, load_signals, matrix, scan
from harness.manifest import load_candidate
from harness.model import CAPABILITIES, CheckResult, Outcome, Severity
from harness.profiles import fatal_caps, load_profiles, profile_score

PROFILES, LANGUAGES = scoring_data()
PY = LANGUAGES["python"]


def result(check: str, capability: str, outcome: Outcome,
           severity: Severity = Severity.MAJOR) -> CheckResult:
    return CheckResult(check, capability, severity, outcome)


def test_a_signal_in_a_comment_docstring_or_string_does_not_count() -> None:
    text = ('"""Module doc: os.fsync(fd) here is prose."""\n'
            "import os\n"
            "# os.write(fd, data); os.fsync(fd) in a comment\n"
            "def f(fd, data):\n"
            '    """A docstring\n'
            "    that mentions os.killpg(pgid, 9) over\n"
            '    lines."""\n'
            "    os.write(fd, data)\n"
            "    os.fsync(fd)\n"
            "    print(f'then os.killpg({fd}, 9) and {os.fsync}')\n")
    hits = scan([("eng.py", text)], PY)
    assert [(h.capability, h.file, h.line, h.text) for h in hits] == [
        ("durable_log", "eng.py", 9, "os.fsync(fd)")]


def test_the_reference_shows_intent_for_every_capability() -> None:
    ref = load_candidate(ROOT / "candidates" / "reference")
    intent = find_signals(ref, LANGUAGES)
    assert intent.language_known and intent.score == 10.0
    for cap in CAPABILITIES:
        hit = intent.signals(cap)[0]
        line = (ref.path / hit.file).read_text().splitlines()[hit.line - 1]
        assert hit.text == line.strip()[:200]  # file:line points at the very line shown


def test_intent_needs_the_claim_and_the_signal(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "candidate.toml").write_text(
        'name = "e"\nlanguage = "Python"\nentrypoint = ["python3", "e.py"]\n'
        'claims = ["durable_log", "process_groups"]\n')
    (tmp_path / "e" / "e.py").write_text(
        "import fcntl, os\n"
        "def append(fd, line):\n"
        "    os.write(fd, line)\n"
        "    os.fsync(fd)\n"
        "def lock(fd):\n"
        "    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n")
    intent = find_signals(load_candidate(tmp_path / "e"), LANGUAGES)
    assert intent.has_intent("durable_log")  # claimed and fsynced; language case is ignored
    assert not intent.has_intent("process_groups")  # claimed, no signal
    assert not intent.has_intent("single_writer_lock")  # a signal, but not claimed
    assert intent.signals("single_writer_lock")
    assert intent.score == round(10 / 13, 2)


def test_an_unknown_language_is_not_judged_and_every_profile_falls_back(tmp_path: Path) -> None:
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "candidate.toml").write_text(
        'name = "z"\nlanguage = "zig"\nentrypoint = ["./z"]\nclaims = ["durable_log"]\n')
    (tmp_path / "z" / "main.zig").write_text("// os.fsync(fd)\n")
    intent = find_signals(load_candidate(tmp_path / "z"), LANGUAGES)
    assert not intent.language_known and intent.hits == ()
    assert intent.score is None  # not a 0: intent could not be read at all
    assert intent.not_judged == "design intent not judged: no signals for zig"
    for p in PROFILES.profiles:
        judged = profile_score(p, 7.5, intent.score, ())
        assert judged.score == judged.raw == 7.5  # execution alone, under every profile


GOOD = 'name = "x"\nfiles = { "*.x" = "python" }\nprose = ["comment", "string"]\n'
SIGNAL = "[[signals]]\ncapability = 'retries'\nmeans = 'm'\n[signals.rule]\npattern = 'f($A)'\n"


def signal(extra: str) -> str:
    """SIGNAL with extra keys of the signal itself (before its rule table)."""
    return SIGNAL.replace("[signals.rule]", extra + "[signals.rule]")


@pytest.mark.parametrize("body, words", [
    (GOOD + "colour = 1\n", ["unknown key 'colour'"]),
    (GOOD + signal("weight = 2\n"), ["signals[0]", "unknown key 'weight'"]),
    (GOOD + SIGNAL.replace("retries", "flying"), ["signals[0].capability", "'flying'"]),
    (GOOD + SIGNAL.replace("pattern = 'f($A)'", "kind = 'no_such_kind'"),
     ["signals[0].rule", "not a valid ast-grep rule for python"]),
    (GOOD + SIGNAL.replace("pattern = 'f($A)'", "pattern = 'f($A)'\nstopBy = 'end'"),
     ["signals[0].rule", "not a valid ast-grep rule"]),
    (GOOD + "[[signals]]\ncapability = 'retries'\nmeans = 'm'\n", ["signals[0]", "'rule'"]),
    (GOOD + signal("grammars = ['rust']\n"), ["signals[0].grammars", "'rust'"]),
    (GOOD + "signals = 3\n", [".signals", "[[signals]]"]),
    (GOOD.replace('"python"', '"cobol"'), [".files", "grammar"]),
    (GOOD.replace('{ "*.x" = "python" }', "{}"), [".files"]),
    (GOOD.replace('name = "x"', 'name = ""'), ["needs name"]),
    (GOOD + "aliases = ['']\n", [".aliases"]),
    ("name = \n", ["cannot be read as TOML"]),
])
def test_malformed_language_files_name_the_file_and_key(tmp_path: Path, body: str,
                                                        words: list[str]) -> None:
    path = tmp_path / "x.toml"
    path.write_text(body)
    with pytest.raises(ScoringDataError) as info:
        load_signals(tmp_path)
    for w in [str(path), *words]:
        assert w in str(info.value)


def test_a_language_name_given_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(GOOD.replace('"x"', '"py"', 1))
    (tmp_path / "b.toml").write_text(GOOD.replace('name = "x"', 'name = "other"\naliases = ["PY"]'))
    with pytest.raises(ScoringDataError) as info:
        load_signals(tmp_path)
    assert str(tmp_path / "b.toml") in str(info.value) and "'py'" in str(info.value)


def test_an_empty_or_missing_signals_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScoringDataError, match="holds no language signal file"):
        load_signals(tmp_path)
    with pytest.raises(ScoringDataError, match="not a folder"):
        load_signals(tmp_path / "nowhere")


def test_every_bundled_language_file_loads_and_is_keyed_by_its_aliases() -> None:
    assert LANGUAGES["python"] is LANGUAGES["python3"] is LANGUAGES["py"]
    assert {s.capability for s in PY.signals} == set(CAPABILITIES)


def test_matrix_has_the_four_states_and_leaves_infra_out() -> None:
    claims = frozenset({"durable_log", "retries", "timeouts"})
    intent = Intent(True, (), claims)
    pairs = [("s", result("log.a", "durable_log", Outcome.PASS)),
             ("s", result("retry.a", "retries", Outcome.PASS)),
             ("s", result("retry.b", "retries", Outcome.FAIL)),
             ("s", result("lock.a", "single_writer_lock", Outcome.PASS)),
             ("s", result("dag.a", "parallelism", Outcome.FAIL)),
             ("s", result("procs.a", "timeouts", Outcome.INFRA_ERROR))]
    cells = {c.capability: c for c in matrix(claims, intent, pairs)}
    assert cells["durable_log"].state is Cell.CLAIMED_VERIFIED
    assert cells["retries"].state is Cell.CLAIMED_REFUTED
    assert cells["retries"].failed == ("s:retry.b",) and cells["retries"].passed == ("s:retry.a",)
    assert cells["single_writer_lock"].state is Cell.UNCLAIMED_VERIFIED
    assert cells["parallelism"].state is Cell.UNCLAIMED_MISSING
    assert cells["timeouts"].state is Cell.CLAIMED_UNTESTED  # only an infra error: unknown
    assert cells["input_validation"].state is Cell.UNCLAIMED_UNTESTED
    assert len(cells) == 13


def test_bundled_profiles() -> None:
    assert PROFILES.default == "execution-first"
    assert PROFILES.core == {"durable_log", "crash_recovery", "replay_status"}
    weights = {p.name: (p.intent_weight, p.fatal_cap) for p in PROFILES.profiles}
    assert weights["execution-first"] == (0.2, 4.5) and weights["design-first"] == (0.6, 7.5)
    assert "balanced" in weights
    with pytest.raises(UsageError, match="no such profile"):
        PROFILES.get("vibes")


def test_fatal_caps_need_fatal_failed_core_and_claimed() -> None:
    fatal, major = Severity.FATAL, Severity.MAJOR
    claims = frozenset({"durable_log", "process_groups"})
    pairs = [("a", result("log.append_only", "durable_log", Outcome.FAIL, fatal)),
             ("b", result("log.schema", "durable_log", Outcome.FAIL, major)),  # not fatal
             ("c", result("procs.t", "process_groups", Outcome.FAIL, fatal)),  # not core
             ("d", result("crash.completes", "crash_recovery", Outcome.FAIL, fatal)),  # unclaimed
             ("e", result("log.seq", "durable_log", Outcome.INFRA_ERROR, fatal))]  # not judged
    caps = fatal_caps(pairs, claims, PROFILES.core)
    assert [(c.check, c.scenario) for c in caps] == [("log.append_only", "a")]
    assert "log.append_only" in caps[0].reason and "core" in caps[0].reason


@given(st.floats(0, 10), st.floats(0, 10), st.floats(0, 10), st.floats(0, 10))
def test_a_cap_bounds_the_score_and_keeps_the_order(e1: float, i1: float, e2: float,
                                                    i2: float) -> None:
    caps = fatal_caps([("s", result("log.x", "durable_log", Outcome.FAIL, Severity.FATAL))],
                      frozenset({"durable_log"}), PROFILES.core)
    for p in PROFILES.profiles:
        a, b = profile_score(p, e1, i1, caps), profile_score(p, e2, i2, caps)
        assert a.score is not None and b.score is not None
        assert a.raw is not None and b.raw is not None
        assert a.score <= p.fatal_cap
        assert a.raw == round((1 - p.intent_weight) * e1 + p.intent_weight * i1, 2)
        if a.raw < b.raw - 0.02:  # scores are rounded to 0.01
            assert a.score <= b.score


def test_a_perfect_engine_scores_ten_under_every_profile() -> None:
    for p in PROFILES.profiles:
        assert profile_score(p, 10.0, 10.0, ()).score == 10.0
        assert profile_score(p, None, 10.0, ()).score is None  # nothing judged: no score


@pytest.mark.parametrize("body, words", [
    ("default = 'x'\n[profiles.a]\nintent_weight = 0.2\nfatal_cap = 4\n", ["'default'"]),
    ("default = 'a'\n[profiles.a]\nintent_weight = 1.5\nfatal_cap = 4\n",
     ["profiles.a.intent_weight"]),
    ("default = 'a'\n[profiles.a]\nintent_weight = 0.2\nfatal_cap = true\n",
     ["profiles.a.fatal_cap"]),
    ("default = 'a'\n[profiles.a]\nintent_weight = 0.2\nfatal_cap = 4\nweight = 1\n",
     ["unknown key 'weight'"]),
    ("default = 'a'\ncore = ['luck']\n[profiles.a]\nintent_weight = 0.2\nfatal_cap = 4\n",
     ["'core'"]),
])
def test_malformed_profiles_name_the_file_and_key(tmp_path: Path, body: str,
                                                  words: list[str]) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text(body)
    with pytest.raises(ScoringDataError) as info:
        load_profiles(path)
    for w in [str(path), *words]:
        assert w in str(info.value)



def test_hostile_source_files_show_no_intent_and_never_hang(tmp_path: Path) -> None:
    """A symlink (to a file full of signals outside the folder), a FIFO and a file over the
    cap, each named like source: none is read, and the FIFO never blocks the scan."""
    import os
    import signal

    from harness.intent import MAX_FILE_BYTES

    outside = tmp_path / "outside.py"
    outside.write_text("import os\ndef w(fd, b):\n    os.write(fd, b)\n    os.fsync(fd)\n")
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "candidate.toml").write_text(
        'name = "h"\nlanguage = "python"\nentrypoint = ["python3", "e.py"]\n'
        'claims = ["durable_log"]\n')
    (tmp_path / "h" / "linked.py").symlink_to(outside)
    os.mkfifo(tmp_path / "h" / "fifo.py")
    (tmp_path / "h" / "huge.py").write_text(outside.read_text() + "#" * MAX_FILE_BYTES)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the scan blocked on the FIFO"))
    signal.alarm(20)
    try:
        intent = find_signals(load_candidate(tmp_path / "h"), LANGUAGES)
    finally:
        signal.alarm(0)
    assert intent.language_known and intent.hits == ()
    (tmp_path / "h" / "real.py").write_text(outside.read_text())  # the same code, as a file
    assert find_signals(load_candidate(tmp_path / "h"), LANGUAGES).has_intent("durable_log")
