#!/usr/bin/env bash
# Set up everything the demo and the tests need on a fresh Debian machine (Python >= 3.10, run as root or with
# sudo for the system packages): GDAL's headers from Debian, a virtual environment in .venv, the GDAL Python
# bindings matching the system library, and this package with its development extras.
# Idempotent: a second run only reinstalls what changed. Progress goes to stderr (so a fresh machine is never silent
# while the GDAL bindings build); the only line on stdout is the venv path, for the scripts that call it.
set -euo pipefail

say() { echo "bootstrap: $*" >&2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HYP3_S1_M11M12_VENV:-$repo_root/.venv}"
python="${PYTHON:-python3}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# System packages: GDAL headers and gdal-config (to build the bindings), a compiler, venv support.
missing=()
command -v gdal-config >/dev/null 2>&1 || missing+=(libgdal-dev)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
"$python" -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The GDAL bindings are a C extension: they need Python.h (Debian's python3-dev for Debian's python3).
"$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || missing+=(python3-dev)
# udunits2 is loaded at run time by the CF checker (cfunits) that the tests use.
ldconfig -p 2>/dev/null | grep -q 'libudunits2\.so' || missing+=(libudunits2-0)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
gdal_version="$(gdal-config --version)"

if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtual environment $venv"
    "$python" -m venv "$venv" >&2
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
pip_install() { "${pip[@]}" install "$@" >&2; }

# The GDAL bindings must match the system library and be built against the numpy that will be used: numpy is
# installed first and the bindings are built without isolation. GDAL < 3.9 does not support numpy 2.
stamp="$venv/.bootstrap-stamp"
wanted="gdal=$gdal_version $(sha256sum "$repo_root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    pip_install --upgrade pip 'setuptools>=77' wheel 'setuptools_scm[toml]>=6.2'
    # numpy_pins: numpy, and what must follow it (pyarrow >= 21 refuses to import under numpy 1.x).
    numpy_pins=('numpy')
    if [ "$(printf '%s\n' "$gdal_version" 3.9.0 | sort -V | head -n1)" != 3.9.0 ]; then
        numpy_pins=('numpy<2' 'pyarrow<21')
    fi
    pip_install "${numpy_pins[@]}"
    if ! "$venv/bin/python" -c "from osgeo import gdal_array; import sys; sys.exit(gdal_array.__name__ is None)" \
        >/dev/null 2>&1 || [ "$("$venv/bin/python" -c 'from osgeo import gdal; print(gdal.__version__)')" != "$gdal_version" ]; then
        say "building the GDAL $gdal_version Python bindings (a few minutes)"
        pip_install --no-build-isolation --no-cache-dir "gdal[numpy]==$gdal_version"
    fi
    say "installing hyp3_s1_m11m12 with its development extras"
    pip_install "${numpy_pins[@]}" -e "$repo_root[develop]"
    echo "$wanted" > "$stamp"
else
    say "up to date ($venv)"
fi
echo "$venv"
