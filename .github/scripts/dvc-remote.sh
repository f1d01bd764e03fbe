# shellcheck shell=bash
# Sourced by pr-review.sh and promote.sh: the team's DVC remote, when the workflow was given one.
#   DVC_REMOTE_URL           secret: the remote, e.g. s3://bucket/dvc (empty: no remote)
#   DVC_REMOTE_ENDPOINT_URL  variable: endpoint of an S3-compatible store (MinIO, Ceph, R2...)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  secrets: its credentials
# Pull requests from forks get no secrets, so they reproduce without the remote.

# Configure the remote as `ci` in .dvc/config.local (gitignored: the workspace stays clean).
# Returns 1, saying so, when no remote was given.
dvc_remote_configure() {
  # A secret that is not configured arrives as an empty variable; to boto3 that is not "unset".
  local name
  for name in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY DVC_REMOTE_ENDPOINT_URL; do
    [[ -n "${!name:-}" ]] || unset "$name"
  done
  if [[ -z "${DVC_REMOTE_URL:-}" ]]; then
    echo "No DVC remote configured (secret DVC_REMOTE_URL is empty): reproducing from scratch."
    return 1
  fi
  dvc remote add --local --force --default ci "$DVC_REMOTE_URL"
  if [[ -n "${DVC_REMOTE_ENDPOINT_URL:-}" ]]; then
    dvc remote modify --local ci endpointurl "$DVC_REMOTE_ENDPOINT_URL"
  fi
}
