#!/usr/bin/env bash
# Install what the tests need (scripts/bootstrap.sh), then run the whole test suite on both cores.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The bootstrap reports its progress on stderr (shown); its stdout is the venv path.
venv="$(bash "$repo_root/scripts/bootstrap.sh")"
cd "$repo_root"
exec "$venv/bin/python" -m pytest -n 2 "$@"
