# syntax=docker/dockerfile:1
# The shared base build: Python, uv and a virtualenv with libs/events and libs/plumbing
# (and everything they need) installed from uv.lock. Every service image starts FROM it
# and adds only its own package, so the heavy common layer is built once.
# Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile -t msp-ops/base:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE}
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /src
# The workspace root and lock, plus only the two shared libraries: uv installs a subset
# of a workspace from the lock (--frozen), so later service sources don't bust this layer.
COPY pyproject.toml uv.lock ./
COPY libs/events/ libs/events/
COPY libs/plumbing/ libs/plumbing/
RUN uv sync --frozen --no-dev --no-editable --package msp-plumbing
# A build stage only: it runs nothing itself.
CMD ["python", "-c", "print('msp-ops base build image: use a service image')"]
