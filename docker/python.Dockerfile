# One multi-stage image recipe for the Python services; SERVICE_MODULE picks the entry point.
# Targets: development (editable install, reload) and production (non-root, no build tools).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DO_NOT_TRACK=true PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true \
    HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
WORKDIR /app

FROM base AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY services ./services
COPY flows ./flows
COPY deployments ./deployments
# torch from the CPU index first (PyPI's default torch wheel is a multi-GB CUDA build)
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && /opt/venv/bin/pip install .

FROM base AS development
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY . .
RUN pip install -e ".[dev]" && useradd --create-home --uid 10001 app && chown -R app /app
USER app
ARG SERVICE_MODULE=services.data_core.app
ENV SERVICE_MODULE=${SERVICE_MODULE}
CMD ["sh", "-c", "python -m ${SERVICE_MODULE}"]

FROM base AS production
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY data ./data
COPY docs/kb ./docs/kb
RUN useradd --create-home --uid 10001 app && mkdir -p /app/var && chown -R app /app/var
USER app
ARG SERVICE_MODULE=services.data_core.app
ENV SERVICE_MODULE=${SERVICE_MODULE} HOST=0.0.0.0
CMD ["sh", "-c", "python -m ${SERVICE_MODULE}"]
