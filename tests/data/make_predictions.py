"""Make tests/data/predictions.jsonl, the example study, from the bundled engines.

Three models of three samples each, as `harness import` reads them:
- sound-model: the reference engine, three times;
- flawed-model: candidates/model-a, candidates/model-b and the mutant event-names (the
  reference writing event types it cannot read back: clean-run, the fastest scenario,
  already fails it on log.schema and status.matches, so a run of that one scenario
  separates the models);
- flawed-twin: the very same three engines as flawed-model, so a comparison must not
  tell the two apart.
Each sample is the engine's merged file tree (a mutant's own files over the reference)
without its candidate.toml, its main file opening with a comment naming model and sample:
every sample then has a digest of its own and runs as its own cell, as real generations
would. Run `python tests/data/make_predictions.py` to rewrite the file; a unit test checks
that the shipped file is what this makes now.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # this checkout's harness, whichever is installed
    sys.path.insert(0, str(ROOT))

from harness.manifest import load_candidate  # noqa: E402
from harness.model import CAPABILITIES  # noqa: E402
from harness.tree import candidate_files  # noqa: E402

TARGET = Path(__file__).resolve().parent / "predictions.jsonl"
FLAWED = ("model-a", "model-b", "mutants/event-names")
STUDY = {"sound-model": ("reference",) * 3, "flawed-model": FLAWED, "flawed-twin": FLAWED}


def stamp(text: str, model: str, sample: int) -> str:
    """text with a first line naming model and sample (after a #! line, which must stay first)."""
    line = f"# harness example study: model {model}, sample {sample}\n"
    if text.startswith("#!"):
        head, _, rest = text.partition("\n")
        return f"{head}\n{line}{rest}"
    return line + text


def _text(path: Path) -> str | None:
    """A file's text; None for a binary (the reference's launcher), which a model's answer
    cannot hold: such a sample runs without it (the reference then falls back to sh)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def prediction(model: str, sample: int, engine: str) -> dict[str, object]:
    c = load_candidate(ROOT / "candidates" / engine)
    files = {rel: text for rel, path in candidate_files(c) if (text := _text(path)) is not None}
    main = next(arg for arg in c.entrypoint[1:] if arg in files)
    files[main] = stamp(files[main], model, sample)
    return {"model": model, "sample": sample, "prompt_version": "v1", "language": c.language,
            "entrypoint": list(c.entrypoint),
            "claims": [k for k in CAPABILITIES if k in c.claims], "files": files}


def render() -> str:
    """The whole file: one JSON line per sample, models and samples in order."""
    return "".join(json.dumps(prediction(model, i, engine), ensure_ascii=False) + "\n"
                   for model, engines in STUDY.items() for i, engine in enumerate(engines, 1))


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
