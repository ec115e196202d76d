#!/usr/bin/env bash
# Install what the tests need (scripts/bootstrap.sh), then run the whole test suite on both cores.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$repo_root/scripts/bootstrap.sh" | tail -n 1)"
cd "$repo_root"
exec "$venv/bin/python" -m pytest -n 2 "$@"
