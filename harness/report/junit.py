"""junit.xml: one testcase per candidate and check, so CI systems show results natively.

A check is one testcase whatever the number of scenarios it ran in, judged as the
execution score judges it: it fails if it failed in any scenario, and the failure
carries every failing scenario's evidence and the command that reproduces it. A check
that only met infrastructure errors is an <error>, not a <failure>: the harness broke,
not the candidate. A check whose precondition never happened (not exercised) is
<skipped>, its message saying what did not happen. The file validates against the
common JUnit schema (Jenkins' junit-10.xsd); text a candidate produced is stripped of
characters XML cannot carry. With trials, a check that passed in some and failed in
others says so first in its failure's message: "flaky (p of n trials passed)". A partial
run (fewer scenarios than its folder holds) says so in every suite's name, and in the
`coverage` and `partial` properties, so a CI page never shows it as a full run.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from harness.report.doc import flaky_rates, verdicts
from harness.suites import coverage_of

NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean(text: object) -> str:
    return NOT_XML.sub("\ufffd", str(text))


def _evidence_text(chk: Mapping[str, Any]) -> str:
    trial = f", trial {chk['trial']}" if chk.get("trial") else ""
    parts = [f"scenario {chk['scenario']}{trial} ({chk['severity']}): {chk.get('detail', '')}"]
    for e in chk["evidence"]:
        parts += [f"  expected: {e.get('expected', '')}", f"  seen:     {e.get('seen', '')}",
                  f"  where:    {e.get('where', '')}"]
        if e.get("excerpt"):
            parts += ["  " + line for line in str(e["excerpt"]).split("\n")]
    parts.append(f"  reproduce: {chk['reproduce']}")
    return "\n".join(parts)


def _seconds(cells: list[Mapping[str, Any]]) -> str:
    return f"{sum(float(c.get('duration_s') or 0) for c in cells):.3f}"


def build(doc: Mapping[str, Any]) -> ET.ElementTree[ET.Element]:
    coverage = coverage_of(doc)
    tag = f" (partial: {coverage.short()})" if coverage.partial else ""
    root = ET.Element("testsuites", name="harness" + tag)
    totals = {"tests": 0, "failures": 0, "errors": 0}  # the schema has no skipped here
    for name, cand in doc["candidates"].items():
        by_check: dict[str, list[Mapping[str, Any]]] = {}
        for chk in cand["checks"]:
            by_check.setdefault(str(chk["check"]), []).append(chk)
        verdict = verdicts(cand)
        flaky = {c: f"flaky ({p} of {n} trials passed)" for c, (p, n) in flaky_rates(cand).items()}
        failures = sum(v == "fail" for v in verdict.values())
        errors = sum(v == "infra_error" for v in verdict.values())
        skipped = sum(v == "not_exercised" for v in verdict.values())
        suite = ET.SubElement(root, "testsuite", name=clean(name + tag), tests=str(len(verdict)),
                              failures=str(failures), errors=str(errors), skipped=str(skipped),
                              time=_seconds(cand["cells"]), timestamp=str(doc.get("created", "")))
        props = ET.SubElement(suite, "properties")
        for key, value in (("score", cand.get("score")), ("headline_profile", doc["headline_profile"]),
                           ("execution_score", cand.get("execution_score")),
                           ("intent_score", cand.get("intent_score")), ("seed", doc["seed"]),
                           ("partial", str(coverage.partial).lower()),
                           ("coverage", coverage.says()),
                           *((f"profile.{p}", s.get("score")) for p, s in cand["profiles"].items())):
            ET.SubElement(props, "property", name=key, value=clean("" if value is None else value))
        for check in sorted(by_check):
            runs = by_check[check]
            case = ET.SubElement(suite, "testcase", name=clean(check),
                                 classname=clean(f"{name}.{runs[0]['capability']}"))
            failed = [c for c in runs if c["outcome"] == "fail"]
            if verdict[check] == "fail":
                first = failed[0]["evidence"][0] if failed[0]["evidence"] else {}
                where = ", ".join(dict.fromkeys(str(c["scenario"]) for c in failed))
                message = ((f"{flaky[check]}: " if check in flaky else "")
                           + f"{check} failed in {where}: {first.get('seen', '')}")
                el = ET.SubElement(case, "failure", message=clean(message[:500]),
                                   type=clean(failed[0]["severity"]))
                el.text = clean("\n\n".join(_evidence_text(c) for c in failed))
            elif verdict[check] == "infra_error":
                el = ET.SubElement(case, "error", message="infrastructure error: not judged",
                                   type="infra_error")
                el.text = clean("\n".join(f"{c['scenario']}: {c.get('detail', '')}\n"
                                          f"  reproduce: {c['reproduce']}" for c in runs))
            elif verdict[check] == "not_exercised":
                why = "; ".join(f"{c['scenario']}: {c.get('detail', '')}" for c in runs
                                if c["outcome"] == "not_exercised")
                ET.SubElement(case, "skipped", message=clean(f"not exercised: {why}"[:500]))
            passed = [str(c["scenario"]) for c in runs if c["outcome"] == "pass"]
            if passed:
                ET.SubElement(case, "system-out").text = clean("passed in " + ", ".join(passed))
        totals["tests"] += len(verdict)
        totals["failures"] += failures
        totals["errors"] += errors
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return ET.ElementTree(root)


def to_bytes(doc: Mapping[str, Any]) -> bytes:
    data: bytes = ET.tostring(build(doc).getroot(), encoding="utf-8", xml_declaration=True)
    return data + b"\n"
