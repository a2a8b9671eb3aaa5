# syntax=docker/dockerfile:1
# Build: dependencies in a cached layer, then the code. Run: slim, non-root, health-checked.
FROM node:20-slim AS playground
WORKDIR /app
COPY package.json package-lock.json ./
# GraphiQL's pinned browser bundles, served by Quire itself (no CDN at run time).
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY pyproject.toml README.md ./
# Dependencies alone first (from the pins in pyproject.toml), so that code changes reuse this layer.
RUN mkdir -p schema resolvers models migrations/versions \
    && touch app.py settings.py schema/__init__.py resolvers/__init__.py models/__init__.py \
       migrations/__init__.py migrations/versions/__init__.py \
    && /venv/bin/pip install . && /venv/bin/pip uninstall --yes quire
COPY app.py settings.py schema.graphql ./
COPY schema ./schema
COPY resolvers ./resolvers
COPY models ./models
COPY migrations ./migrations
# Editable: migrations find pyproject.toml's [tool.alembic] next to the code in /app.
RUN /venv/bin/pip install --no-deps --editable .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app quire
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build /app /app
COPY --from=playground /app/node_modules /app/node_modules
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8000 QUIRE_ENV=production
USER quire
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os,urllib.request;urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz',timeout=2)"
CMD ["quire", "serve"]
