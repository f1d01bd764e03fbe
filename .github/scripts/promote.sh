#!/usr/bin/env bash
# The steps of .github/workflows/promote.yml and rollback.yml, one subcommand each, so they run
# (and are tested) outside GitHub too:
#   reproduce  dvc repro; with a DVC remote (dvc-remote.sh): --pull, then push outputs and
#              run-cache so pull requests restore main's stages instead of re-running them
#   promote    gitops-ml promote, its bar read from main before the push (BEFORE: the push event's
#              `before`; empty for a manual run: the champion's commit) and the promoted commit
#              required on DEFAULT_BRANCH; records promoted=true|false, version and tag in
#              $GITHUB_OUTPUT
#   restore    without a tracking server: rebuild the registry from origin's GTO tags and the
#              releases' files (gh) when the cached store lost it (gitops-ml registry --rebuild)
#   release    gh release create <tag> with the model file, its model card and version.json
#              (the version's manifest, which `restore` rebuilds it from)
#   rollback   gitops-ml rollback [--to $VERSION] --reason "$REASON"
#   summary    append the decision, model card and registry state to $GITHUB_STEP_SUMMARY
# Without the MLFLOW_TRACKING_URI secret the registry is the SQLite store mlflow.db in the
# workspace (kept between runs by the workflow's cache step); the git tags and the release are
# the durable record either way, and `restore` rebuilds the store from them when it is lost.
set -euo pipefail
# shellcheck source=.github/scripts/dvc-remote.sh
source "$(dirname "${BASH_SOURCE[0]}")/dvc-remote.sh"

PROMOTION_DIR="${PROMOTION_DIR:-reports/promotion}"
MODEL="${MODEL:-models/model.skops}"

failpoint() {
  # A test aid, as in the CLI (src/gitops_ml/infra/failpoints.py): GITOPS_ML_FAILPOINT=<step>
  # kills the script at that step as a crash would; unset, it does nothing.
  if [[ "${GITOPS_ML_FAILPOINT:-}" == "$1" ]]; then
    kill -KILL $$
  fi
}

identity() {
  # GTO writes annotated tags: they need a tagger.
  git config user.name >/dev/null || git config user.name "github-actions[bot]"
  git config user.email >/dev/null ||
    git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
}

reproduce() {
  if dvc_remote_configure; then
    echo "DVC remote configured: pulling outputs and run-cache, re-running only what changed."
    dvc repro --pull
    # main is the trusted side: its results seed the run-cache that pull requests restore from.
    # (`dvc push --run-cache`, plus the git-tracked metrics and plots the run-cache needs.)
    if gitops-ml push-run-cache; then
      echo "Pushed this commit's outputs and run-cache to the DVC remote."
    else
      echo "::warning title=DVC push failed::could not push outputs and run-cache to the remote"
    fi
  else
    dvc repro
  fi
}

promote() {
  identity
  rm -rf "$PROMOTION_DIR"
  local args=(--model "$MODEL" --out "$PROMOTION_DIR")
  if [[ -n "${BEFORE:-}" ]]; then
    args+=(--rule-from "$BEFORE")
  fi
  if [[ -n "${DEFAULT_BRANCH:-}" ]]; then
    args+=(--default-branch "$DEFAULT_BRANCH")
  fi
  gitops-ml promote "${args[@]}"
  local decision="$PROMOTION_DIR/decision.json"
  {
    echo "promoted=$(jq -r '.promoted' "$decision")"
    echo "version=$(jq -r '.version' "$decision")"
    echo "tag=$(jq -r '.gto_tags[0] // ""' "$decision")"
  } >>"${GITHUB_OUTPUT:-/dev/null}"
}

restore() {
  gitops-ml registry --rebuild
}

release() {
  : "${TAG:?TAG must name the registration tag to release}"
  local notes="$PROMOTION_DIR/model_card.md"
  if gh release view "$TAG" >/dev/null 2>&1; then
    echo "Release $TAG already exists (a re-run of this promotion): nothing to publish."
    return 0
  fi
  failpoint release
  # --verify-tag: release only the tag promote pushed, never create a new one.
  gh release create "$TAG" "$MODEL" "$notes" "$PROMOTION_DIR/version.json" \
    --verify-tag --title "$TAG" --notes-file "$notes"
}

rollback() {
  identity
  : "${REASON:?REASON must say why the champion is rolled back}"
  local args=(--reason "$REASON")
  if [[ -n "${VERSION:-}" ]]; then
    args+=(--to "$VERSION")
  fi
  gitops-ml rollback "${args[@]}"
}

summary() {
  local out="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
  if [[ -s "$PROMOTION_DIR/decision.md" ]]; then
    {
      cat "$PROMOTION_DIR/decision.md"
      printf '\n<details><summary>Model card</summary>\n\n'
      cat "$PROMOTION_DIR/model_card.md"
      printf '\n</details>\n\n'
    } >>"$out"
  fi
  gitops-ml registry >>"$out" || echo "(the registry could not be read: see the job log)" >>"$out"
}

case "${1:-}" in
reproduce | restore | promote | release | rollback | summary) "$1" ;;
*)
  echo "usage: $0 {reproduce|restore|promote|release|rollback|summary}" >&2
  exit 2
  ;;
esac
