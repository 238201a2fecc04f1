# syntax=docker/dockerfile:1
# lorawan-monitor service image: installed from uv.lock (exact versions), no dev tools.
#   docker build -t lorawan-monitor .
#   docker run --rm lorawan-monitor --help
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# dependencies first (cached while only our code changes)
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY lorawan_monitor ./lorawan_monitor
COPY ingest ./ingest
COPY decoders ./decoders
COPY storage ./storage
COPY api ./api
COPY simulator ./simulator
COPY dashboards ./dashboards
COPY opendata ./opendata
COPY alerts ./alerts
RUN uv sync --frozen --no-dev --no-editable

FROM python:${PYTHON_VERSION}-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin lorawan \
    && mkdir -p /data && chown lorawan:lorawan /data
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LORAWAN_STORAGE__DATA_DIR=/data
WORKDIR /app
USER lorawan
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["lorawan-monitor"]
CMD ["--help"]
