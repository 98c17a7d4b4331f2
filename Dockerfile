# Tanggap worker image: `docker build -t tanggap .` from the repository root.
# The same image runs `tanggap worker` (default), `tanggap alert-bridge` and the other commands.
# Lint: hadolint Dockerfile (tests/unit/test_deploy.py runs it when hadolint is installed).

FROM python:3.11-slim-bookworm AS build
# Build stage only: the runtime image gets the built wheel (every dependency has binary wheels,
# so no compiler is needed).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agents ./agents
COPY schemas ./schemas
COPY streams ./streams
COPY deploy/config ./deploy/config
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="tanggap" \
      org.opencontainers.image.description="Complaint-response pipeline on Kafka (faust-streaming)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/tanggap --create-home tanggap \
    && mkdir -p /etc/tanggap && cp -r /usr/local/share/tanggap/config /etc/tanggap/config
# Containers listen on every interface; state lives on a volume; logs are JSON lines on stderr.
# GLIBC_TUNABLES: glibc (2.35+, bookworm has 2.36) backs the malloc heap (RocksDB's block cache
# and memtables, the clustering stage's LSH index) with transparent huge pages when the kernel's
# mode is `madvise`; no effect under `always` or `never` (docs/operations.md).
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
    TANGGAP_WEB_HOST=0.0.0.0 \
    TANGGAP_WEB_PORT=6066 \
    TANGGAP_DATA_DIR=/var/lib/tanggap \
    TANGGAP_CONFIG=/etc/tanggap/config/klaten \
    TANGGAP_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /var/lib/tanggap
VOLUME ["/var/lib/tanggap"]
EXPOSE 6066
# faust commits offsets and flushes the producer on SIGTERM; give it the time to (see k8s
# terminationGracePeriodSeconds and compose stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/live' % os.environ.get('TANGGAP_WEB_PORT', '6066'), timeout=4)"]
ENTRYPOINT ["tanggap"]
CMD ["worker"]
