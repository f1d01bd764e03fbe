#!/usr/bin/env bash
# The steps of .github/workflows/pr.yml, one subcommand each, so they run (and are tested)
# outside GitHub too:
#   reproduce  dvc repro; with --pull (data and run-cache) when the DVC_REMOTE_URL secret names
#              a remote (dvc-remote.sh); runs log to MLFLOW_TRACKING_URI when given, else to
#              the workspace's mlflow.db
#   report     gitops-ml report --check against origin/$BASE_REF; records the gate verdict
#              in $GITHUB_OUTPUT (gate=pass|fail) instead of failing, so the summary,
#              artifact and comment steps still run
#   summary    append the report (or why there is none) to $GITHUB_STEP_SUMMARY
#   comment    create or update the ONE sticky comment on the pull request: with CML, else (CML
#              failed to install or to post) with gh and the same CML watermark
#   gate       fail when the report step recorded gate=fail, repeating the verdict line
set -euo pipefail
# shellcheck source=.github/scripts/dvc-remote.sh
source "$(dirname "${BASH_SOURCE[0]}")/dvc-remote.sh"

REPORT_DIR="${REPORT_DIR:-reports/pr}"
# Fixed: CML finds the comment to update by this title, so it must never vary between runs.
COMMENT_TITLE="gitops-ml model report"

reproduce() {
  # Each stage records its wall time and peak memory; the report puts them beside the base's.
  export GITOPS_ML_TIMINGS="$PWD/eval/timings.json"
  # Tracking credentials that are not configured arrive empty: MLflow must not see them set.
  local name
  for name in MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD; do
    [[ -n "${!name:-}" ]] || unset "$name"
  done
  # Without the secret (always so for forks) runs stay in the workspace: never the server that
  # params.yaml's tracking.uri names, for which the pull request holds no credentials.
  export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$PWD/mlflow.db}"
  if dvc_remote_configure; then
    # Read only: the run-cache is written by trusted runs on main (promote.sh), never by
    # a pull request, whose code could file results under keys that main would then trust.
    echo "DVC remote configured: pulling data and run-cache, re-running only what changed."
    dvc repro --pull
  else
    dvc repro
  fi
}

report() {
  : "${BASE_REF:?BASE_REF must name the base branch of the pull request}"
  rm -rf "$REPORT_DIR"
  local code=0
  gitops-ml report --base "origin/$BASE_REF" --head "${HEAD_SHA:-HEAD}" --out "$REPORT_DIR" \
    --check || code=$?
  if [[ ! -s "$REPORT_DIR/report.md" ]]; then
    echo "::error title=No report::gitops-ml report exited $code without writing $REPORT_DIR/report.md"
    exit $((code == 0 ? 1 : code))
  fi
  local gate=pass
  ((code == 0)) || gate=fail
  echo "gate=$gate" >>"${GITHUB_OUTPUT:-/dev/null}"
  echo "Quality gate: $gate (gitops-ml report exited $code)"
}

summary() {
  local out="${GITHUB_STEP_SUMMARY:-/dev/stdout}"
  if [[ -s "$REPORT_DIR/report.md" ]]; then
    cat "$REPORT_DIR/report.md" >>"$out"
  else
    printf '%s\n' "## $COMMENT_TITLE" "" \
      "No report was written: an earlier step failed. See the job log." >>"$out"
  fi
}

comment() {
  # --publish=false: keep charts out of CML's public image host (private repositories);
  # the report draws its charts as mermaid blocks, and the PNGs travel in the artifact.
  if command -v cml >/dev/null &&
    cml comment update --target=pr --watermark-title="$COMMENT_TITLE" --publish=false \
      "$REPORT_DIR/report.md"; then
    return
  fi
  echo "::warning title=CML did not post::posting the report comment with gh instead"
  gh_comment
}

gh_comment() {
  # The same sticky comment as CML's: found, and later found by CML, by CML's watermark.
  : "${PR_NUMBER:?PR_NUMBER must name the pull request}"
  local title="CML watermark $COMMENT_TITLE" body comments id
  body="$(mktemp)"
  {
    cat "$REPORT_DIR/report.md"
    printf '\n\n![](https://cml.dev/watermark.png#%s "%s")' "${GITHUB_SHA:-0}" "$title"
  } >"$body"
  comments="repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments"
  id=$(gh api "$comments" --paginate |
    jq -rs --arg title "\"$title\"" '[add[] | select(.body | contains($title))][0].id // empty')
  if [[ -n "$id" ]]; then
    gh api -X PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" -F "body=@$body" >/dev/null
    echo "Updated comment $id with gh."
  else
    gh api "$comments" -F "body=@$body" >/dev/null
    echo "Created the report comment with gh."
  fi
  rm -f "$body"
}

gate() {
  case "${GATE:-}" in
  pass)
    echo "Quality gate passed."
    ;;
  fail)
    local verdict
    verdict="$(head -n 1 "$REPORT_DIR/report.md" 2>/dev/null || true)"
    echo "::error title=Quality gate failed::${verdict:-see $REPORT_DIR/report.md}"
    exit 1
    ;;
  *)
    echo "::error title=No verdict::the report step recorded no gate verdict"
    exit 1
    ;;
  esac
}

case "${1:-}" in
reproduce | report | summary | comment | gate) "$1" ;;
*)
  echo "usage: $0 {reproduce|report|summary|comment|gate}" >&2
  exit 2
  ;;
esac
