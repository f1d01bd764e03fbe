#!/usr/bin/env bash
# The steps of the pull-request review, one subcommand each, so they run (and are tested)
# outside GitHub too. pr.yml runs the pull request's code and hands over an artifact:
#   reproduce  dvc repro; with --pull (data and run-cache) when the DVC_REMOTE_URL secret names
#              a remote (dvc-remote.sh); runs log to MLFLOW_TRACKING_URI when given, else to
#              the workspace's mlflow.db
#   pack       gitops-ml pack-reproduction into $REPRODUCTION_DIR (the artifact)
# pr-judge.yml runs the default branch's code only, on that artifact:
#   locate     find the open pull request whose head is $HEAD_SHA: its number and base branch
#              (step outputs; workflow_run names no pull request of a fork)
#   report     gitops-ml report --check --branch-dir $REPRODUCTION against origin/$BASE_REF,
#              the committed files read at $HEAD_SHA; records the verdict in $GITHUB_OUTPUT
#              (gate=pass|fail) instead of failing, so the steps after it still run
#   summary    append the report (or why there is none) to $GITHUB_STEP_SUMMARY
#   comment    create or update the ONE sticky comment on pull request $PR_NUMBER: with CML,
#              else (CML failed to install or to post) with gh and the same CML watermark
#   status     set $GATE (pending|pass|fail|error) as the commit status of $HEAD_SHA
#   gate       fail when the report step recorded gate=fail, repeating the verdict line
set -euo pipefail
# shellcheck source=.github/scripts/dvc-remote.sh
source "$(dirname "${BASH_SOURCE[0]}")/dvc-remote.sh"

# The project's environment comes first when it is here: the judge does not write
# $GITHUB_PATH (in a workflow_run job that is what zizmor's github-env audit warns of).
if [[ -x .venv/bin/gitops-ml ]]; then
  PATH="$PWD/.venv/bin:$PATH"
fi
REPORT_DIR="${REPORT_DIR:-reports/pr}"
REPRODUCTION_DIR="${REPRODUCTION_DIR:-reproduction}"
# Fixed: CML finds the comment to update by this title, so it must never vary between runs.
COMMENT_TITLE="gitops-ml model report"
# The commit status branch protection requires (docs/template.md).
STATUS_CONTEXT="gitops-ml / quality gate"

reproduce() {
  # Each stage command records its wall time and peak memory; the report puts them beside the
  # base's. The branch's committed file is set aside: only what runs here is this run's cost.
  export GITOPS_ML_TIMINGS="$PWD/eval/timings.json"
  rm -f "$GITOPS_ML_TIMINGS"
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

pack() {
  local number
  number="$(jq -r '.pull_request.number // empty' "${GITHUB_EVENT_PATH:-/dev/null}" 2>/dev/null || true)"
  gitops-ml pack-reproduction --out "$REPRODUCTION_DIR" ${number:+--pull-request "$number"}
}

locate() {
  : "${HEAD_SHA:?HEAD_SHA must name the reproduced commit}"
  local found number base_ref
  found="$(gh api "repos/$GITHUB_REPOSITORY/pulls?state=open&per_page=100" --paginate |
    jq -rs --arg sha "$HEAD_SHA" \
      '[add[] | select(.head.sha == $sha)][0] // empty | "\(.number) \(.base.ref)"')"
  if [[ -z "$found" ]]; then
    echo "::error title=No pull request::no open pull request has the head $HEAD_SHA"
    exit 1
  fi
  read -r number base_ref <<<"$found"
  {
    echo "number=$number"
    echo "base-ref=$base_ref"
  } >>"${GITHUB_OUTPUT:-/dev/null}"
  echo "Pull request #$number into $base_ref, head $HEAD_SHA."
}

fetch_head() {
  # The pull request's head, checked out in $HEAD_DIR for git only: its commit joins this
  # repository so the report reads its committed dvc.lock and eval/ (nothing of it runs).
  git fetch -q --no-tags --depth=1 "file://$PWD/$HEAD_DIR" HEAD
  local fetched
  fetched="$(git rev-parse FETCH_HEAD)"
  if [[ "$fetched" != "$HEAD_SHA" ]]; then
    echo "::error title=Wrong head::$HEAD_DIR holds $fetched, not the reproduced $HEAD_SHA"
    exit 1
  fi
}

report() {
  : "${BASE_REF:?BASE_REF must name the base branch of the pull request}"
  rm -rf "$REPORT_DIR"
  if [[ "${REPRODUCED:-success}" != success ]]; then
    mkdir -p "$REPORT_DIR"
    printf '%s\n' "❌ **Failed**: the pull request's pipeline did not reproduce (${REPRODUCED}): \
see ${REPRODUCTION_URL:-the PR review run}." >"$REPORT_DIR/report.md"
    echo "gate=fail" >>"${GITHUB_OUTPUT:-/dev/null}"
    echo "Quality gate: fail (the reproduction ended: $REPRODUCED)"
    return
  fi
  local args=(--base "origin/$BASE_REF" --out "$REPORT_DIR" --check)
  if [[ -n "${REPRODUCTION:-}" ]]; then
    fetch_head
    args+=(--branch-dir "$REPRODUCTION" --head "$HEAD_SHA")
  else
    args+=(--head "${HEAD_SHA:-HEAD}")
  fi
  local code=0
  gitops-ml report "${args[@]}" || code=$?
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
  : "${PR_NUMBER:?PR_NUMBER must name the pull request}"
  if command -v cml >/dev/null &&
    cml comment update --target="pr/$PR_NUMBER" --watermark-title="$COMMENT_TITLE" \
      --publish=false "$REPORT_DIR/report.md"; then
    return
  fi
  echo "::warning title=CML did not post::posting the report comment with gh instead"
  gh_comment
}

gh_comment() {
  # The same sticky comment as CML's: found, and later found by CML, by CML's watermark.
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

status() {
  : "${HEAD_SHA:?HEAD_SHA must name the head of the pull request}"
  local state description
  case "${GATE:-}" in
  pending) state=pending description="Judging the reproduction" ;;
  pass) state=success ;;
  fail) state=failure ;;
  *) state=error description="The judge could not reach a verdict: see the run" ;;
  esac
  if [[ -z "${description:-}" ]]; then
    # The verdict line without its markdown, cut to what a status holds.
    description="$(head -n 1 "$REPORT_DIR/report.md" | sed -e 's/[*`]//g' -e 's/^[^A-Za-z]*//')"
    description="${description:0:139}"
  fi
  local url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/actions/runs/${GITHUB_RUN_ID:-0}"
  gh api "repos/$GITHUB_REPOSITORY/statuses/$HEAD_SHA" -f state="$state" \
    -f context="$STATUS_CONTEXT" -f description="$description" -f target_url="$url" >/dev/null
  echo "Commit status $STATUS_CONTEXT: $state."
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
reproduce | pack | locate | report | summary | comment | status | gate) "$1" ;;
*)
  echo "usage: $0 {reproduce|pack|locate|report|summary|comment|status|gate}" >&2
  exit 2
  ;;
esac
