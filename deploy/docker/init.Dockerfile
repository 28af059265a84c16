# syntax=docker/dockerfile:1
# The one-shot init image: every service package (for their migrations) plus
# msp_init.py, which creates the registry's topics and runs all four migrations.
#   docker build -f deploy/docker/init.Dockerfile -t msp-ops/init:0.1.0 .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=... -e DATABASE_URL=... msp-ops/init:0.1.0
ARG BASE_IMAGE=msp-ops/base:0.1.0
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS build
COPY services/ services/
RUN uv sync --frozen --no-dev --no-editable \
      --package msp-ingest --package msp-incidents --package msp-sla-clock --package msp-billing \
      --package msp-notify

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 msp \
 && useradd --system --uid 10001 --gid msp --no-create-home --home-dir /nonexistent msp
COPY --from=build /app/.venv /app/.venv
COPY deploy/docker/msp_init.py /app/msp_init.py
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp
USER 10001:10001
# a one-shot job, not a server: nothing to probe
HEALTHCHECK NONE
CMD ["python", "/app/msp_init.py", "all"]
