#!/usr/bin/env bash
# The steps of a harness gate in CI, one subcommand per step, so that a CI file stays a
# list of calls (github-actions.yml; GitLab CI in the README) and the test
# tests/docker/test_ci_example.py runs those very steps on a machine without a hosted
# runner.
#
#   gate.sh install                 install harness from this checkout, unless it is on PATH
#   gate.sh image-name              print name=IMAGE (for GITHUB_OUTPUT: the cache key)
#   gate.sh image CACHE_DIR         load the base image from CACHE_DIR/base.tar, or build it
#                                   (debootstrap, no registry) and save it there
#   gate.sh changed BASE_SHA        print candidates=FOLDERS: the candidate folders (those
#                                   holding candidate.toml) that HEAD changed since its merge
#                                   base with BASE_SHA
#   gate.sh baseline BASE_SHA OUT FOLDERS...
#                                   score, with this checkout's harness, the same folders as
#                                   they were at BASE_SHA (those that existed) into OUT
#   gate.sh score OUT BASELINE FOLDERS...
#                                   score FOLDERS into OUT; exit 1 below HARNESS_FAIL_UNDER
#                                   or on a regression against BASELINE/results.json
#   gate.sh summary OUT             print OUT/junit.xml as Markdown (for GITHUB_STEP_SUMMARY)
#
# Settings (environment): HARNESS_FAIL_UNDER (default 8), HARNESS_SELECT (default
# "--suite quick"), HARNESS_RUNNER (default docker), HARNESS (default harness).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
harness="${HARNESS:-harness}"
runner="${HARNESS_RUNNER:-docker}"
read -r -a select <<<"${HARNESS_SELECT:---suite quick}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -E env "PATH=$PATH" "$@"; fi; }

# The candidate folder a changed path belongs to: the nearest folder above it, under
# candidates/, that holds a candidate.toml (mutants live one level deeper).
candidate_of() {
  local d
  d="$(dirname "$1")"
  while [ "$d" != "." ] && [ "$d" != "candidates" ] && [ "$d" != "/" ]; do
    if [ -f "$d/candidate.toml" ]; then echo "$d"; return; fi
    d="$(dirname "$d")"
  done
}

cmd="${1:?usage: gate.sh install|image-name|image|changed|baseline|score|summary ...}"
shift
case "$cmd" in
  install)
    if command -v "$harness" >/dev/null; then
      echo "harness is installed: $("$harness" --version)"
    else
      python3 -m pip install --quiet -e .
    fi
    ;;
  image-name)
    echo "name=$("$harness" image name)"
    ;;
  image)
    cache="${1:?gate.sh image CACHE_DIR}"
    name="$("$harness" image name)"
    if docker image inspect "$name" >/dev/null 2>&1; then
      echo "base image $name: already in the daemon"
    elif [ -s "$cache/base.tar" ]; then
      docker load --quiet --input "$cache/base.tar"
      echo "base image $name: loaded from the cache (warm)"
    else
      command -v debootstrap >/dev/null || as_root apt-get install -y -q debootstrap
      as_root "$(command -v "$harness")" image bootstrap
      echo "base image $name: built (cold)"
    fi
    if [ ! -s "$cache/base.tar" ]; then  # what actions/cache keeps for the next run
      mkdir -p "$cache"
      docker save --output "$cache/base.tar.part" "$name"
      mv "$cache/base.tar.part" "$cache/base.tar"
    fi
    ;;
  changed)
    base="${1:?gate.sh changed BASE_SHA}"
    # BASE...HEAD: what the pull request changed since it left the base branch, not what
    # the base branch changed since then (that is in neither side's candidates to judge)
    folders="$(git diff --name-only "$base"...HEAD -- candidates | while read -r f; do
      candidate_of "$f"; done | sort -u | while read -r d; do
      [ -f "$d/candidate.toml" ] && echo "$d"; done | tr '\n' ' ')"
    echo "candidates=${folders% }"
    ;;
  baseline)
    base="${1:?gate.sh baseline BASE_SHA OUT FOLDERS...}"
    out="${2:?gate.sh baseline BASE_SHA OUT FOLDERS...}"
    shift 2
    tree="$(mktemp -d)"
    trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
    git worktree add --quiet --detach "$tree" "$base"
    old=()
    for f in "$@"; do
      if [ -f "$tree/$f/candidate.toml" ]; then old+=("$tree/$f"); fi
    done
    if [ "${#old[@]}" = 0 ]; then
      echo "no changed candidate existed at $base: nothing to compare with"
      exit 0
    fi
    "$harness" score "${old[@]}" --runner "$runner" "${select[@]}" --out "$out"
    ;;
  score)
    out="${1:?gate.sh score OUT BASELINE FOLDERS...}"
    baseline="${2:?gate.sh score OUT BASELINE FOLDERS...}"
    shift 2
    if [ "$#" = 0 ]; then
      echo "no candidate folder changed: nothing to score"
      exit 0
    fi
    gate=(--fail-under "${HARNESS_FAIL_UNDER:-8}")
    if [ -s "$baseline/results.json" ]; then
      gate+=(--baseline "$baseline/results.json" --fail-on-regression)
    fi
    "$harness" score "$@" --runner "$runner" "${select[@]}" --out "$out" "${gate[@]}"
    ;;
  summary)
    out="${1:?gate.sh summary OUT}"
    python3 "$here/junit_summary.py" "$out/junit.xml"
    ;;
  *)
    echo "gate.sh: unknown step $cmd" >&2
    exit 2
    ;;
esac
