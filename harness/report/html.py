"""index.html: one self-contained page, rendered from the view model with jinja2.

Autoescaping is on for every template, and undefined names are errors, so a template
cannot quietly drop a field or let a candidate's text become markup. CSS and the one
script are inlined, and a Content-Security-Policy allows only that script (by its hash)
and no fetches at all: the page opens from a CI artifact or a mail attachment offline,
and even a string that escaped escaping could not run or load anything.
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources

import jinja2
from markupsafe import Markup

from harness.report.view import Report

TEMPLATES = resources.files("harness.report") / "templates"


def element_text(value: object) -> Markup:
    """value escaped for element content only (&, <, >), never for an attribute.

    Event-log excerpts are JSON, full of double quotes; escaping each as &#34; (as the
    default escape does, to be safe in attributes too) made them a third larger. The
    templates apply this filter only between tags."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Markup(text)


def environment() -> jinja2.Environment:
    """The templates' environment (autoescaping, strict undefined): index.html and
    compare.html both render through it."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its suffix: .j2 is not in the default list
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["element_text"] = element_text
    return env


def script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def render(report: Report) -> str:
    css = (TEMPLATES / "style.css").read_text()
    script = (TEMPLATES / "report.js").read_text()
    cap_labels = [c.replace("_", "_\u200b") for c in report.capabilities]  # may wrap at _
    return environment().get_template("index.html.j2").render(
        r=report, css=Markup(css),
        script=Markup(script), script_hash=script_hash(script),
        cap_labels=cap_labels)
