# syntax=docker/dockerfile:1
# Build: dependencies in a cached layer, then the code. Run: slim, non-root, health-checked.
# Base images are pinned by exact tag; bump them on purpose, both python stages together
# (tests/test_dockerfile.py checks that they match).
FROM node:24.19.0-trixie-slim AS playground
WORKDIR /app
COPY package.json package-lock.json ./
# GraphiQL's pinned browser bundles, served by Quire itself (no CDN at run time).
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11.15-slim-trixie AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY pyproject.toml README.md ./
# Dependencies alone first (from the pins in pyproject.toml), so that code changes reuse this layer.
RUN mkdir -p schema resolvers models migrations/versions \
    && touch app.py settings.py schema/__init__.py resolvers/__init__.py models/__init__.py \
       migrations/__init__.py migrations/versions/__init__.py \
    && /venv/bin/pip install . && /venv/bin/pip uninstall --yes quire
# The whole schema/ directory: the code, trusted-documents.json and released.graphql.
COPY app.py cli.py settings.py schema.graphql ./
COPY schema ./schema
COPY resolvers ./resolvers
COPY models ./models
COPY migrations ./migrations
# Editable: migrations find pyproject.toml's [tool.alembic] next to the code in /app.
# Bytecode is compiled here because the running user may not write to /app.
RUN /venv/bin/pip install --no-deps --editable . \
    && /venv/bin/python -m compileall -q --invalidation-mode checked-hash \
       app.py settings.py schema resolvers models migrations

FROM python:3.11.15-slim-trixie AS runtime
# A numeric, unprivileged user (Kubernetes' runAsNonRoot can verify a numeric USER). The code
# stays owned by root: the server cannot rewrite itself.
RUN groupadd --system --gid 10001 quire \
    && useradd --system --uid 10001 --gid quire --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin quire
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build /app /app
COPY --from=playground /app/node_modules /app/node_modules
# QUIRE_WORKERS: processes per container, each with its own SO_REUSEPORT socket (scale out with
# more containers, or up with more workers). Forwarded headers (X-Forwarded-For/-Proto) are
# believed only from QUIRE_FORWARDED_ALLOW_IPS, the reverse proxy's addresses: unset, none.
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 PORT=8000 QUIRE_ENV=production QUIRE_WORKERS=1
USER 10001:10001
EXPOSE 8000
# `quire serve` on SIGTERM: /readyz answers 503 while requests are still served for
# QUIRE_SHUTDOWN_DRAIN_SECONDS (5), then in-flight requests get QUIRE_GRACEFUL_SHUTDOWN_SECONDS
# (20). Give the container longer than both to stop (`docker run --stop-timeout 30`; compose:
# stop_grace_period), or it is killed mid-request.
STOPSIGNAL SIGTERM
# Liveness only: the process answers. Readiness (database, Redis, migrations) is /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=2)"]
# Last, so that a new revision invalidates no layer above.
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="quire" \
      org.opencontainers.image.description="Quire: a GraphQL content API for publications" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
CMD ["quire", "serve"]
