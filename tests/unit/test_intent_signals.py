"""Every language's design signals held to fixtures: each capability found in at least
two idioms, and nothing found in code that only mentions the capabilities.

Layout: tests/fixtures/intent/LANGUAGE/CAPABILITY/IDIOM.EXT must show CAPABILITY (and a
hit for it on a line of that file); tests/fixtures/intent/LANGUAGE/mentions*.EXT names
every capability in comments, strings and dead names, and must show none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import scoring_data
from harness.intent import Language, scan_text
from harness.model import CAPABILITIES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intent"
_, LANGUAGES = scoring_data()
TABLES = {lang.name: lang for lang in LANGUAGES.values()}


def _idioms() -> list[tuple[str, str, Path]]:
    return [(lang.name, cap.name, f) for lang in sorted(FIXTURES.iterdir()) if lang.is_dir()
            for cap in sorted(lang.iterdir()) if cap.is_dir() for f in sorted(cap.iterdir())]


def _mentions() -> list[tuple[str, Path]]:
    return [(lang.name, f) for lang in sorted(FIXTURES.iterdir()) if lang.is_dir()
            for f in sorted(lang.glob("mentions*"))]


def _hits(language: str, path: Path) -> list[str]:
    lang: Language = TABLES[language]
    assert lang.grammar(path.name), f"{path.name}: no grammar of {language} reads it"
    return [h.capability for h in scan_text(path.name, path.read_text(), lang)]


@pytest.mark.parametrize("language", sorted(TABLES))
def test_every_language_has_two_idioms_per_capability_and_a_mentions_file(language: str) -> None:
    folder = FIXTURES / language
    assert folder.is_dir(), f"no fixtures for {language} under {FIXTURES}"
    for cap in CAPABILITIES:
        idioms = sorted((folder / cap).glob("*")) if (folder / cap).is_dir() else []
        assert len(idioms) >= 2, f"{language}/{cap}: {len(idioms)} idiom(s), at least 2 wanted"
    assert list(folder.glob("mentions*")), f"{language}: no mentions file"
    signalled = {s.capability for s in TABLES[language].signals}
    assert signalled == set(CAPABILITIES), f"{language}: no signal for {set(CAPABILITIES) - signalled}"


@pytest.mark.parametrize("language, capability, path", _idioms(),
                         ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_each_idiom_shows_its_capability(language: str, capability: str, path: Path) -> None:
    assert capability in CAPABILITIES, f"{path}: {capability!r} is not a capability"
    assert capability in _hits(language, path), f"{path}: no {capability} signal found"


@pytest.mark.parametrize("language, path", _mentions(),
                         ids=lambda v: v.name if isinstance(v, Path) else str(v))
def test_mentions_in_comments_strings_and_dead_names_show_nothing(language: str,
                                                                  path: Path) -> None:
    assert _hits(language, path) == [], f"{path}: mentions were taken for design"
