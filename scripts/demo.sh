#!/usr/bin/env bash
# Install what the demo needs (scripts/bootstrap.sh), then run s1_correction_fixed offline on the embedded
# synthetic 12-day pair. Outputs go to ./demo-output (or the directory given as the first argument).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The bootstrap reports its progress on stderr (shown); its stdout is the venv path.
venv="$(bash "$repo_root/scripts/bootstrap.sh")"
output_dir="${1:-$repo_root/demo-output}"
exec "$venv/bin/python" -m hyp3_s1_m11m12.demo --output-dir "$output_dir"
