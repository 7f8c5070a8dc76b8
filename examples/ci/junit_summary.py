"""Print a harness junit.xml as Markdown, for a CI job's summary ($GITHUB_STEP_SUMMARY).

One row per candidate (its score, and its checks passed, failed, not exercised and not
judged), then each failed check with its message; a partial run says so in the title.
The standard library only, so that any CI image with Python runs it.

    python3 junit_summary.py reports/ci/junit.xml >> "$GITHUB_STEP_SUMMARY"
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipe, no line break."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def summary(path: str) -> str:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        return f"### harness\n\nno JUnit results: {path}: {exc}\n"
    lines = [f"### {cell(root.get('name', 'harness'))}", "",
             "| candidate | score | passed | failed | not exercised | not judged |",
             "|---|---:|---:|---:|---:|---:|"]
    failures = []
    for suite in root.iter("testsuite"):
        props = {p.get("name"): p.get("value", "") for p in suite.iter("property")}
        tests, failed = int(suite.get("tests", 0)), int(suite.get("failures", 0))
        errors, skipped = int(suite.get("errors", 0)), int(suite.get("skipped", 0))
        lines.append(f"| {cell(suite.get('name', ''))} | {cell(props.get('score', ''))}"
                     f" | {tests - failed - errors - skipped} | {failed} | {skipped} | {errors} |")
        for case in suite.iter("testcase"):
            for el in case.findall("failure"):
                failures.append(f"- **{cell(suite.get('name', ''))}** `{case.get('name')}`:"
                                f" {cell(el.get('message', ''))}")
    if failures:
        lines += ["", "#### Failed checks", "", *failures]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: junit_summary.py JUNIT.xml")
    sys.stdout.write(summary(sys.argv[1]))
