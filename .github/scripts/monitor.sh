#!/usr/bin/env bash
# The steps of .github/workflows/monitor.yml, one subcommand each, so they run (and are tested)
# outside GitHub too:
#   reference  get the training reference and the model: dvc repro --pull with the DVC_REMOTE_URL
#              secret (dvc-remote.sh), else dvc repro from scratch
#   fetch      get the current batch: SOURCE is a path in the repository, an http(s) URL or an
#              object-store URI (gitops-ml fetch-batch copies it into $MONITOR_DIR); empty
#              SOURCE simulates one (ROWS, SEED, DRIFT); records current=<path> in $GITHUB_OUTPUT
#   check      gitops-ml monitor on CURRENT; records drift=true|false in $GITHUB_OUTPUT and
#              writes the markdown report to the job summary
#   issue      open ONE issue labelled `drift`, or update the open one, with the report
#   retrain    dispatch the workflow RETRAIN_WORKFLOW (needs a token with actions: write)
set -euo pipefail
# shellcheck source=.github/scripts/dvc-remote.sh
source "$(dirname "${BASH_SOURCE[0]}")/dvc-remote.sh"

MONITOR_DIR="${MONITOR_DIR:-reports/monitor}"
LABEL="drift"
# Fixed: the open issue is found by its label; the title only helps humans.
TITLE="Data drift detected by scheduled monitoring"
# GitHub refuses issue bodies longer than 65536 characters.
MAX_BODY=60000

output() { echo "$1" >>"${GITHUB_OUTPUT:-/dev/null}"; }

reference() {
  if dvc_remote_configure; then
    echo "DVC remote configured: pulling the prepared data and the model."
    dvc repro --pull
  else
    dvc repro
  fi
}

fetch() {
  mkdir -p "$MONITOR_DIR"
  local current
  if [[ -z "${SOURCE:-}" ]]; then
    current="$MONITOR_DIR/current.parquet"
    echo "No data source configured: simulating ${ROWS:-5000} rows (seed ${SEED:-0}, drift '${DRIFT:-}')."
    gitops-ml simulate --rows "${ROWS:-5000}" --seed "${SEED:-0}" --drift "${DRIFT:-}" --output "$current"
  else
    current=$(gitops-ml fetch-batch --source "$SOURCE" --out-dir "$MONITOR_DIR")
    echo "Current data: $SOURCE → $current"
  fi
  output "current=$current"
}

check() {
  : "${CURRENT:?CURRENT must name the current batch (output of the fetch step)}"
  rm -rf "$MONITOR_DIR/report"
  local code=0 drift=false
  gitops-ml monitor --current "$CURRENT" --out "$MONITOR_DIR/report" \
    --model "${MODEL:-models/model.skops}" --fail-on-drift || code=$?
  case "$code" in
    0) ;;
    3) drift=true ;; # gitops-ml monitor --fail-on-drift: drift detected
    *) exit "$code" ;;
  esac
  output "drift=$drift"
  cat "$MONITOR_DIR/report/monitor.md" >>"${GITHUB_STEP_SUMMARY:-/dev/null}"
}

body() {
  local md="$MONITOR_DIR/report/monitor.md"
  if (($(wc -c <"$md") > MAX_BODY)); then
    head -c "$MAX_BODY" "$md"
    printf '\n\n… (cut: the full report is in the run artifact)\n'
  else
    cat "$md"
  fi
  printf '\n---\n'
  # shellcheck disable=SC2016 # the backticks are markdown, not a command substitution
  printf 'Run: %s · the HTML report with charts is the artifact `monitor-report` of that run.\n' \
    "${RUN_URL:-(local run)}"
  printf 'Close this issue once the drift is handled; the next drifted run opens a new one.\n'
}

issue() {
  local file number
  file="$(mktemp)"
  body >"$file"
  gh label create "$LABEL" --color D93F0B --description "Data or prediction drift found by monitoring" --force
  number=$(gh issue list --label "$LABEL" --state open --limit 100 --json number |
    jq -r 'map(.number) | min // empty')
  if [[ -n "$number" ]]; then
    gh issue edit "$number" --body-file "$file"
    gh issue comment "$number" --body "Drift detected again: ${RUN_URL:-(local run)}. The description now holds the latest report."
    echo "Updated drift issue #$number"
  else
    gh issue create --title "$TITLE" --label "$LABEL" --body-file "$file"
    echo "Opened a drift issue"
  fi
  rm -f "$file"
}

retrain() {
  : "${RETRAIN_WORKFLOW:?RETRAIN_WORKFLOW must name the workflow file to dispatch}"
  gh workflow run "$RETRAIN_WORKFLOW" --ref "${RETRAIN_REF:-main}"
  echo "Dispatched $RETRAIN_WORKFLOW on ${RETRAIN_REF:-main}"
}

case "${1:-}" in
  reference | fetch | check | issue | retrain) "$1" ;;
  *)
    echo "usage: $0 reference|fetch|check|issue|retrain" >&2
    exit 2
    ;;
esac
