# One multi-stage image recipe for every Python service (data core, ML engine, orchestration, chatbot,
# Prefect server, MLflow, the flow runner and the trainer); SERVICE_MODULE picks the entry point, so the
# images share every layer but the last. Targets: development (editable install with the dev extras) and
# production (non-editable, non-root uid 10001, no build tools).
# Dependencies: constraints.txt pins every package (the Makefile installs with it too); torch is the CPU
# build (PyPI's default torch wheel is a multi-GB CUDA build).
# Build args (the defaults are the official sources; tests/deploy/compose_stack.py overrides them on a
# machine without a registry):
#   PYTHON_IMAGE     the base image
#   TORCH_PIP_ARGS   where pip finds the CPU torch wheel
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS base
# CARBON_NEXUS_ROOT: the project is installed non-editable (its packages lie in site-packages); data/,
# docs/kb and var/ are under /app (services/common/paths.py)
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=true PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true \
    HAYSTACK_TELEMETRY_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 CARBON_NEXUS_ROOT=/app
WORKDIR /app

# the dependencies first (a layer that changes only with pyproject.toml or constraints.txt): a stub of the
# project resolves them, the sources come after
FROM base AS deps
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
COPY constraints.txt ./
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -q -c constraints.txt ${TORCH_PIP_ARGS} "torch==2.13.0+cpu"
COPY pyproject.toml ./
# then what no service imports, out of the copied venv (about 0.3 GB): torch's C++ test binaries, headers and
# protoc, the packages' own test suites, pip's cache
RUN mkdir -p services flows deployments && touch README.md services/__init__.py \
    && /opt/venv/bin/pip install -q -c constraints.txt . && /opt/venv/bin/pip uninstall -q -y carbon-nexus \
    && cd /opt/venv/lib/python3.11/site-packages \
    && rm -rf torch/test torch/include torch/bin/protoc* torch/bin/*Test torch/bin/test_* pyarrow/include \
    && for pkg in pandas scipy sklearn numpy pyarrow sympy networkx statsmodels matplotlib; do \
         [ ! -d "$pkg" ] || find "$pkg" -depth -type d -name tests -exec rm -rf {} +; done \
    && rm -rf /root/.cache

# the project itself as a wheel: a change of the sources rebuilds only this small layer, never the venv's
FROM deps AS build
COPY services ./services
COPY flows ./flows
COPY deployments ./deployments
RUN /opt/venv/bin/pip wheel -q --no-deps -w /wheels .

# the chatbot's embeddings (knowledge-base sections and scope examples) computed at build time, in a layer
# that changes only with the knowledge base, the examples or the code that embeds them (services/rag/warm.py):
# every image carries them in var/rag (a few MB), so a new rag-cache volume starts filled and the chatbot's
# first start loads them instead of embedding for minutes
FROM deps AS rag-cache
COPY services/__init__.py ./services/__init__.py
COPY services/common ./services/common
COPY services/rag/__init__.py services/rag/kb.py services/rag/scope.py services/rag/warm.py ./services/rag/
COPY services/rag/data/scope_examples.yaml ./services/rag/data/scope_examples.yaml
COPY docs/kb ./docs/kb
RUN PYTHONPATH=/app /opt/venv/bin/python -m services.rag.warm /app/var/rag

# production before development: the classic builder builds every stage up to its target
FROM base AS production
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY --from=build /wheels /tmp/wheels
RUN pip install -q --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels
COPY data ./data
COPY docs/kb ./docs/kb
COPY --from=rag-cache /app/var/rag ./var/rag
# every volume's mount point exists and belongs to the service user (a named volume takes the ownership
# of the directory it is mounted on when it is first created)
RUN useradd --create-home --uid 10001 app \
    && mkdir -p var/mlflow var/ml-models var/log var/inbox var/rag var/prefect var/data \
    && chown -R 10001:10001 /app/var
USER 10001
ARG SERVICE_MODULE=services.data_core.app
ENV SERVICE_MODULE=${SERVICE_MODULE} HOST=0.0.0.0
# exec: Python is PID 1 and gets docker stop's SIGTERM (a shell there ignores it, and every stop, restart and
# down waited its 10 s for the SIGKILL)
CMD ["sh", "-c", "exec python -m ${SERVICE_MODULE}"]

# development: the dev extras in a layer that changes only with pyproject.toml or constraints.txt (the deps
# stage's stub of the project resolves them), then the whole context, installed editable (compose.dev.yaml
# mounts services/, flows/ and deployments/ over it)
FROM deps AS development
ENV PATH=/opt/venv/bin:$PATH
RUN pip install -q -c constraints.txt ".[dev]" && pip uninstall -q -y carbon-nexus \
    && useradd --create-home --uid 10001 app
COPY --chown=10001:10001 . .
RUN pip install -q --no-deps -e . \
    && mkdir -p var/mlflow var/ml-models var/log var/inbox var/rag var/prefect var/data && chown -R app var
USER 10001
ARG SERVICE_MODULE=services.data_core.app
ENV SERVICE_MODULE=${SERVICE_MODULE} CARBON_NEXUS_ROOT=
CMD ["sh", "-c", "exec python -m ${SERVICE_MODULE}"]
