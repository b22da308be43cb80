# The Heron collector as a container: OTLP in, a ClickHouse server as its store (docker-compose.yml).
# Build from the repository root: docker build -t heron-collector .
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheel carries queries/ and dashboards/ (pyproject.toml force-include); the source is not kept.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sdk ./sdk
COPY collector ./collector
COPY queries ./queries
COPY dashboards ./dashboards
RUN pip install ".[collector]" && cd / && rm -rf /src

# Not root: the collector needs no privilege. Its spool (and state file) live in its home, a volume.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/heron --create-home heron
USER heron
WORKDIR /var/lib/heron

# In a container the receivers listen on every interface; the admin endpoint stays on loopback
# unless HERON_ADMIN says otherwise (off loopback the collector requires HERON_COLLECTOR_TOKEN).
ENV HERON_DATA_DIR=/var/lib/heron \
    HERON_OTLP_HTTP=0.0.0.0:4318 \
    HERON_OTLP_GRPC=0.0.0.0:4317
EXPOSE 4317 4318 4319

# /readyz answers 200 only when the store takes writes and the spool has room (docs/operations.md).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:4318/readyz', timeout=4)"]

ENTRYPOINT ["heron"]
CMD ["collector"]
