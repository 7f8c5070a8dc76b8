"""Every check cites the TASK.md section whose rule it enforces, and the section exists.

A reader of a failed check follows its citation to the sentence it holds the engine to;
a check that cites nothing, or a heading TASK.md no longer has, fails here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.checks import load_all
from harness.checks.cites import citation_problems, cited_sections, headings

TASK_SECTIONS = headings((Path(__file__).resolve().parents[2] / "TASK.md").read_text(encoding="utf-8"))


def _fns() -> dict[str, Any]:
    return {name: d.fn for name, d in load_all().items()}


def test_task_md_has_the_sections_checks_cite() -> None:
    assert {"Crash recovery", "The event log", "Step semantics"} <= TASK_SECTIONS


def test_every_check_cites_a_real_section_of_task_md() -> None:
    assert citation_problems(_fns(), TASK_SECTIONS) == []


def test_the_registry_carries_the_citations() -> None:
    for name, d in load_all().items():
        assert d.cites and d.cites == cited_sections(d.fn), name


def _uncited(obs: Any, params: Mapping[str, Any]) -> list[Any]:
    """A check that says what it checks, but not where TASK.md says so."""
    return []


def _bad_heading(obs: Any, params: Mapping[str, Any]) -> list[Any]:
    """A check citing a heading TASK.md does not have.

    TASK.md: §"Crash recovery" step 8; §"Crash Recovery" (wrong case)."""
    return []


def _cited_mid_docstring(obs: Any, params: Mapping[str, Any]) -> list[Any]:
    """TASK.md: §"Crash recovery" step 8.

    A citation that is not the last paragraph is not one."""
    return []


@pytest.mark.parametrize("fn", [_uncited, _cited_mid_docstring])
def test_a_check_without_a_citation_is_reported(fn: Any) -> None:
    assert cited_sections(fn) == ()
    problems = citation_problems({"synthetic": fn}, TASK_SECTIONS)
    assert len(problems) == 1 and problems[0].startswith("synthetic cites no section")


def test_a_citation_of_a_missing_heading_is_reported() -> None:
    problems = citation_problems({"synthetic": _bad_heading}, TASK_SECTIONS)
    assert problems == ['synthetic cites §"Crash Recovery", which is no ## or ### heading'
                        " of TASK.md"]


def test_cited_sections_reads_several_in_order_once_each() -> None:
    def fn() -> None:
        """Rule.

        TASK.md: §"The event log" (Damage); §"Commands and exit codes" (exit 3),
        and §"The event log" again."""

    assert cited_sections(fn) == ("The event log", "Commands and exit codes")


def test_headings_are_level_two_and_three_outside_code_fences() -> None:
    text = "# Title\n## A\n### B c ###\n#### D\n```\n## not one\n```\n##E\n"
    assert headings(text) == {"A", "B c"}
