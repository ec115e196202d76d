#!/usr/bin/env bash
# Compile autoRIFT's radar Geogrid C++ (geogrid.cpp + its CPython binding geogridmodule.cpp) against the ISCE2
# sources of the installed isce2 and write it where isce2's own (autoRIFT 1.4.0) compiled Geogrid is, so that
# autoRIFT's Geogrid.py runs the C++ of its own release. Only the parts of ISCE2's combinedLib that geogrid.cpp
# calls are built: linalg3 (dot/cross/norm/unitvec), geometry (latlon) and orbit (Hermite interpolation).
#
# Usage: build_autorift_geogrid.sh AUTORIFT_SOURCE ISCE2_SOURCE TARGET_MODULE
#   *_SOURCE       a git directory (bare is enough) or a clone URL of nasa-jpl/autoRIFT, isce-framework/isce2
#   TARGET_MODULE  the extension module file to write; the build record goes beside it (AUTORIFT_GEOGRID_BUILD)
# Environment: AUTORIFT_COMMIT, ISCE2_COMMIT (the pins below), PYTHON (whose headers are used, default python),
#   CC/CXX/FC (default gcc/g++/gfortran), GDAL_CONFIG (default gdal-config), WORK_DIR (default: a new temp dir).
# Flags: -O2 with floating-point contraction off and no -march, so no FMA: the build that reproduces the golden
# outputs bit for bit. -ffast-math is never used.
set -euo pipefail

[ $# -eq 3 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
autorift_source=$1 isce2_source=$2 target=$3
# autoRIFT v1.6.0 (its radar Geogrid C++ is the same as v1.5.0's) and isce2 v2.6.3 (the combinedLib sources used
# here are the same in v2.6.3, v2.6.4 and v2.6.5).
autorift_commit=${AUTORIFT_COMMIT:-edabacd6e9120a3efe4956280f32234376ae22bd}
isce2_commit=${ISCE2_COMMIT:-c2d1a218020d81071574cd70033b7d673e2f5092}
python=${PYTHON:-python}
cc=${CC:-gcc} cxx=${CXX:-g++} fc=${FC:-gfortran}
gdal_config=${GDAL_CONFIG:-gdal-config}
work=${WORK_DIR:-$(mktemp -d)}
mkdir -p "$work/src" "$work/obj"

# A git directory holding `commit`: the given one, or a shallow fetch of just that commit from the URL.
git_dir_with() {
    local source=$1 commit=$2 name=$3
    if [ -d "$source" ]; then
        git --git-dir="$(git -C "$source" rev-parse --absolute-git-dir 2>/dev/null || echo "$source")" \
            rev-parse --absolute-git-dir
    else
        git init -q --bare "$work/$name.git"
        git --git-dir="$work/$name.git" fetch -q --depth 1 "$source" "$commit"
        echo "$work/$name.git"
    fi
}
autorift_git=$(git_dir_with "$autorift_source" "$autorift_commit" autorift)
isce2_git=$(git_dir_with "$isce2_source" "$isce2_commit" isce2)
for pair in "$autorift_git:$autorift_commit" "$isce2_git:$isce2_commit"; do
    git --git-dir="${pair%%:*}" cat-file -e "${pair##*:}^{commit}" || { echo "no commit ${pair##*:} in ${pair%%:*}" >&2; exit 2; }
done

# Sources, into one flat folder (the Fortran files include each other by bare name).
extract() {
    local git=$1 commit=$2; shift 2
    for path in "$@"; do git --git-dir="$git" show "$commit:$path" > "$work/src/${path##*/}"; done
}
geogrid=geo_autoRIFT/geogrid
extract "$autorift_git" "$autorift_commit" \
    $geogrid/src/geogrid.cpp $geogrid/include/geogrid.h $geogrid/bindings/geogridmodule.cpp $geogrid/include/geogridmodule.h
library=components/isceobj/Util/Library
geometry_sources="latlon convert_sch_to_xyz convert_schdot_to_xyzdot cosineC curvature enubasis schbasis getangs
    gettcn_tcvec lookvec radar_to_xyz tcnbasis"
# shellcheck disable=SC2046
extract "$isce2_git" "$isce2_commit" \
    $library/linalg3/include/linalg3.h $library/linalg3/src/linalg3.c $library/linalg3/src/linalg3Module.F \
    $library/geometry/include/geometry.h $library/geometry/src/geometryModule.F \
    $(for name in $geometry_sources; do echo "$library/geometry/src/$name.F"; done) \
    $library/orbit/include/orbit.h $library/orbit/src/orbit.c $library/orbit/src/orbitHermite.c

common="-O2 -ffp-contract=off -fPIC"
fortran_flags="$common -ffixed-line-length-none -fno-second-underscore -fno-range-check"
python_include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
# shellcheck disable=SC2086
(
    cd "$work/obj"
    "$fc" $fortran_flags -J . -I "$work/src" -c "$work/src/linalg3Module.F" -o linalg3Module.o
    "$fc" $fortran_flags -J . -I . -I "$work/src" -c "$work/src/geometryModule.F" -o geometryModule.o
    for name in linalg3 orbit orbitHermite; do "$cc" $common -I "$work/src" -c "$work/src/$name.c" -o "$name.o"; done
    "$cxx" $common -fopenmp -std=c++11 -I "$work/src" $("$gdal_config" --cflags) -c "$work/src/geogrid.cpp" -o geogrid.o
    "$cxx" $common -fopenmp -std=c++11 -I "$work/src" -I "$python_include" $("$gdal_config" --cflags) \
        -c "$work/src/geogridmodule.cpp" -o geogridmodule.o
    "$cxx" -shared -fopenmp -o "$work/geogrid.so" geogridmodule.o geogrid.o linalg3Module.o geometryModule.o \
        linalg3.o orbit.o orbitHermite.o $("$gdal_config" --libs) -lgfortran -lm \
        -Wl,-rpath,"$("$gdal_config" --prefix)/lib"
)
install -m 0755 "$work/geogrid.so" "$target"
{
    echo "autoRIFT v1.6.0 ($autorift_commit) radar Geogrid C++, with isce2 $isce2_commit combinedLib sources"
    echo "compilers: $("$cxx" --version | head -n 1) / $("$fc" --version | head -n 1); GDAL $("$gdal_config" --version)"
    echo "flags: $common (C++: -fopenmp -std=c++11; Fortran: $fortran_flags)"
} > "$(dirname "$target")/AUTORIFT_GEOGRID_BUILD"
echo "wrote $target"
