# The image HyP3 runs: the conda environment (environment.yml) and this package. The project's own engine (the
# default) is what runs: conda-forge's isce2 2.6.x bundles autoRIFT 1.4.0's compiled radar Geogrid, which
# `--engine auto` never selects; `--engine autorift`/`both` work only where an isce2 with autoRIFT >= 1.5's compiled
# Geogrid is installed, and otherwise fail up front with a one-line error.
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
# its cache on the CPU, so the cache holds portable x86-64 levels, best first: each job loads the best its host
# has (numba_target.py; x86-64-v3 = AVX2 takes ~20 % less CPU than generic; the outputs are the same bits).
ENV NUMBA_CACHE_DIR=/home/conda/.numba-cache
ENV HYP3_S1_M11M12_NUMBA_TARGETS="x86-64-v3 generic"
# GDAL's block cache defaults to 5 % of the HOST's memory; the job spec's memory is sized for this bound (MB).
ENV GDAL_CACHEMAX=256

RUN groupadd -g "${CONDA_GID}" --system conda && \
    useradd -l -u "${CONDA_UID}" -g "${CONDA_GID}" --system -d /home/conda -m -s /bin/bash conda && \
    chown -R conda:conda /opt && \
    echo ". /opt/conda/etc/profile.d/conda.sh" >> /home/conda/.profile && \
    echo "conda activate hyp3-s1-m11m12" >> /home/conda/.profile

USER ${CONDA_UID}
SHELL ["/bin/bash", "-l", "-c"]
WORKDIR /home/conda/

COPY --chown=${CONDA_UID}:${CONDA_GID} . /hyp3-s1-m11m12/

RUN mamba env create -f /hyp3-s1-m11m12/environment.yml && \
    conda clean -afy && \
    conda activate hyp3-s1-m11m12 && \
    python -m pip install --no-cache-dir --no-deps /hyp3-s1-m11m12 && \
    for target in ${HYP3_S1_M11M12_NUMBA_TARGETS}; do \
        NUMBA_CPU_NAME="${target}" python -c 'from hyp3_s1_m11m12.products.correction import warm_up_kernels; warm_up_kernels()'; \
    done

ENTRYPOINT ["/hyp3-s1-m11m12/src/hyp3_s1_m11m12/etc/entrypoint.sh"]
CMD ["-h"]
