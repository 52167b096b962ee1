# The dashboard (frontend-ui). Targets: development (Vite dev server with hot reload on 5173; mount ui/src)
# and production (the built bundle served by services/frontend: SPA routes, /config.json, CSP, health).
# Build args: NODE_IMAGE and PYTHON_IMAGE (the official images by default; tests/deploy/compose_stack.py
# passes the same names, built locally, where no registry is reachable).
ARG NODE_IMAGE=node:20-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${NODE_IMAGE} AS deps
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM deps AS build
COPY ui/ ./
RUN npm run build

# production before development: the classic builder builds every stage up to its target
FROM ${PYTHON_IMAGE} AS production
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=true HOST=0.0.0.0 PORT=5173 UI_DIST=/app/ui/dist
WORKDIR /app
# pinned by the project's constraints file, like every other Python image
COPY constraints.txt /tmp/constraints.txt
RUN pip install -q -c /tmp/constraints.txt fastapi uvicorn pydantic-settings prometheus-client && rm /tmp/constraints.txt
COPY services/__init__.py services/__init__.py
# the token middleware of /metrics (services.common.auth) and its problem answers (errors) come along
COPY services/common/__init__.py services/common/settings.py services/common/auth.py services/common/errors.py services/common/
COPY services/frontend services/frontend
COPY --from=build /ui/dist /app/ui/dist
RUN useradd --create-home --uid 10001 app
USER 10001
EXPOSE 5173
CMD ["python", "-m", "services.frontend.app"]

FROM deps AS development
COPY ui/ ./
RUN chown -R node /ui
USER node
EXPOSE 5173
CMD ["npx", "vite", "--host", "0.0.0.0", "--port", "5173", "--strictPort"]
