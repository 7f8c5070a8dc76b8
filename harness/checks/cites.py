"""Where each check's rule is written: the TASK.md sections its docstring cites.

A check's docstring ends with a paragraph that starts `TASK.md:` and names each section
it enforces as §"Heading", the exact text of a `##` or `###` heading of TASK.md, with
free text after it saying where in the section the rule is (a numbered step, a bold
paragraph, a row of a table):

    TASK.md: §"Crash recovery" step 8; §"The event log" (No re-run of a success).

Pure functions over strings, so that a test can hold every registered check to it, and
show a synthetic check with no citation failing the same test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from inspect import cleandoc
from typing import Any

PREFIX = "TASK.md:"
SECTION = re.compile(r'§"([^"]+)"')
HEADING = re.compile(r"^#{2,3}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^[ \t]*(```|~~~)")
FORM = 'a last docstring paragraph "TASK.md: §\\"Heading\\" ..."'


def cited_sections(fn: Callable[..., Any]) -> tuple[str, ...]:
    """The sections fn's docstring cites, in order, each once; () when it cites none."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", cleandoc(fn.__doc__ or "")) if p.strip()]
    if not paragraphs or not paragraphs[-1].startswith(PREFIX):
        return ()
    return tuple(dict.fromkeys(s.strip() for s in SECTION.findall(paragraphs[-1])))


def headings(task_md: str) -> frozenset[str]:
    """The text of every `##` and `###` heading of TASK.md, outside fenced code blocks."""
    found, fenced = set(), False
    for line in task_md.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.add(m.group(1))
    return frozenset(found)


def citation_problems(checks: Mapping[str, Callable[..., Any]] | Iterable[tuple[str, Callable[..., Any]]],
                      sections: Collection[str]) -> list[str]:
    """One line per check that cites no section, or cites one that is not in `sections`."""
    items = checks.items() if isinstance(checks, Mapping) else checks
    problems = []
    for name, fn in items:
        cites = cited_sections(fn)
        if not cites:
            problems.append(f"{name} cites no section of TASK.md: its docstring needs {FORM}")
        problems += [f'{name} cites §"{s}", which is no ## or ### heading of TASK.md'
                     for s in cites if s not in sections]
    return problems
