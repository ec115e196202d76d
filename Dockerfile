# Stage 1: the conda environment, with autoRIFT v1.6.0's radar Geogrid C++ compiled into isce2.
# conda-forge's isce2 2.6.x bundles autoRIFT 1.4.0's compiled Geogrid (41 functions, no setSFFilename_Py) and
# conda-forge's autorift 1.5/1.6 ships only the Python class that calls it, so the C++ of autoRIFT's own release is
# built here from the public sources, pinned by commit, and put where isce2's was.
FROM condaforge/miniforge3:24.11.3-2 AS environment

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# autoRIFT v1.6.0, and the isce2 release that environment.yml pins (tests/packaging checks that they agree).
ARG AUTORIFT_COMMIT=edabacd6e9120a3efe4956280f32234376ae22bd
ARG ISCE2_VERSION=2.6.3
ARG ISCE2_COMMIT=c2d1a218020d81071574cd70033b7d673e2f5092

COPY environment.yml docker/build_autorift_geogrid.sh /tmp/build/

# The compilers get their own environment, which the final image does not keep.
RUN mamba env create -f /tmp/build/environment.yml && \
    mamba create -y -n toolchain -c conda-forge c-compiler cxx-compiler fortran-compiler git && \
    conda clean -afy

RUN set -e; \
    . /opt/conda/etc/profile.d/conda.sh; \
    runtime=/opt/conda/envs/hyp3-s1-m11m12; \
    installed=$(conda list -p "$runtime" --full-name isce2 --json | \
        "$runtime/bin/python" -c 'import json, sys; print(json.load(sys.stdin)[0]["version"])'); \
    if [ "$installed" != "${ISCE2_VERSION}" ]; then \
        echo "isce2 $installed installed, ${ISCE2_VERSION} expected" >&2; exit 1; \
    fi; \
    compiled=components.contrib.geo_autoRIFT.geogrid.geogrid; \
    target=$("$runtime/bin/python" -c "import importlib.util, isce; print(importlib.util.find_spec('$compiled').origin)"); \
    conda activate toolchain; \
    AUTORIFT_COMMIT=${AUTORIFT_COMMIT} ISCE2_COMMIT=${ISCE2_COMMIT} PYTHON="$runtime/bin/python" \
        GDAL_CONFIG="$runtime/bin/gdal-config" CC="$CC" CXX="$CXX" FC="$FC" WORK_DIR=/tmp/build/work \
        bash /tmp/build/build_autorift_geogrid.sh https://github.com/nasa-jpl/autoRIFT.git \
        https://github.com/isce-framework/isce2.git "$target"; \
    rm -rf /tmp/build/work

# Stage 2: the image HyP3 runs.
FROM condaforge/miniforge3:24.11.3-2

# For opencontainers label definitions, see:
#    https://github.com/opencontainers/image-spec/blob/master/annotations.md
LABEL org.opencontainers.image.title="HyP3 S1 M11/M12"
LABEL org.opencontainers.image.description="HyP3 plugin writing Sentinel-1 ITS_LIVE M11/M12 conversion matrices with the true repeat time"
LABEL org.opencontainers.image.vendor="hyp3_s1_m11m12 developers"
LABEL org.opencontainers.image.licenses="BSD-3-Clause"

ARG CONDA_UID=1000
ARG CONDA_GID=1000

ENV PYTHONDONTWRITEBYTECODE=true
# Geogrid's numba kernels are compiled once at build time and cached here, so no job pays the compile. numba keys
# its cache on the CPU: "generic" makes the cache of the build machine valid on every x86-64 host HyP3 runs on.
ENV NUMBA_CACHE_DIR=/home/conda/.numba-cache
ENV NUMBA_CPU_NAME=generic
# GDAL's block cache defaults to 5 % of the HOST's memory; the job spec's memory is sized for this bound (MB).
ENV GDAL_CACHEMAX=256

RUN groupadd -g "${CONDA_GID}" --system conda && \
    useradd -l -u "${CONDA_UID}" -g "${CONDA_GID}" --system -d /home/conda -m -s /bin/bash conda && \
    echo ". /opt/conda/etc/profile.d/conda.sh" >> /home/conda/.profile && \
    echo "conda activate hyp3-s1-m11m12" >> /home/conda/.profile

COPY --from=environment --chown=${CONDA_UID}:${CONDA_GID} /opt/conda/envs/hyp3-s1-m11m12 /opt/conda/envs/hyp3-s1-m11m12

USER ${CONDA_UID}
SHELL ["/bin/bash", "-l", "-c"]
WORKDIR /home/conda/

COPY --chown=${CONDA_UID}:${CONDA_GID} . /hyp3-s1-m11m12/

# The build fails unless the image can run autoRIFT v1.6.0's own radar Geogrid (--engine autorift and both).
RUN python -m pip install --no-cache-dir --no-deps /hyp3-s1-m11m12 && \
    python -c 'from hyp3_s1_m11m12.geometry.zero_doppler import warm_up_kernels; warm_up_kernels()' && \
    python -c 'from hyp3_s1_m11m12.geogrid.isce2_child import probe_autorift; found = probe_autorift(); \
assert found.available and found.geogrid_version == "1.6.0", found; print(found.cpp_version)'

ENTRYPOINT ["/hyp3-s1-m11m12/src/hyp3_s1_m11m12/etc/entrypoint.sh"]
CMD ["-h"]
