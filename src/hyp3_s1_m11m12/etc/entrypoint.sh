#!/bin/bash --login
# Container entry point: activate the conda environment, then hand every argument to the ++process dispatcher.
set -e
conda activate hyp3-s1-m11m12
exec python -um hyp3_s1_m11m12 "$@"
