# Carbon Nexus: two commands. `make up` runs the platform on its embedded default (SQLite, demo data);
# `make test` runs every test (SQLite and PostgreSQL). Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export HAYSTACK_TELEMETRY_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1

.PHONY: install system-deps ui ui-test up down status env scrub-runs test test-fast lint bench bench-ml demo clean \
	backup restore backup-compose restore-compose compose-check compose-test constraints

install: $(STAMP) system-deps ui

# Debian packages: docker-compose (v1, validates compose files and drives the engine), docker.io (dockerd:
# make compose-test starts it when no engine answers), debootstrap (stand-in base images where no registry
# answers), shellcheck (lints the backup scripts) and chromium (the dashboard's end-to-end tests drive
# /usr/bin/chromium with Playwright; no browser is ever downloaded).
DEB_PACKAGES := $(strip $(if $(shell command -v docker-compose),,docker-compose) $(if $(wildcard /usr/bin/chromium),,chromium) \
  $(if $(shell command -v shellcheck),,shellcheck) $(if $(shell command -v dockerd),,docker.io) \
  $(if $(shell command -v debootstrap),,debootstrap))
system-deps:
	@if [ -n "$(DEB_PACKAGES)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(DEB_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES) >/dev/null; \
	  else echo "please install the Debian packages: $(DEB_PACKAGES)"; fi; fi

# The dashboard (ui/): npm ci when package-lock.json changes, a build when a source changes.
UI_STAMP := ui/node_modules/.installed-$(shell sha1sum ui/package-lock.json | cut -c1-12)
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json
$(UI_STAMP): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@rm -f ui/node_modules/.installed-*; touch $(UI_STAMP)
ui/dist/index.html: $(UI_STAMP) $(UI_SOURCES)
	cd ui && npm run --silent build
ui: ui/dist/index.html

ui-test: $(UI_STAMP)
	cd ui && npx vitest run

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints.txt "torch==2.13.0"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

# .env (mode 0600): every secret random, the missing ones appended to an existing file (docs/security.md);
# `make up` does this itself, `make env` only that (e.g. before `docker compose up`)
env: install
	$(PY) -m services.platform env

up: install
	$(PY) -m services.platform up

down:
	@test -x $(PY) && $(PY) -m services.platform down || true

status: install
	$(PY) -m services.platform status

# remove secrets from flow runs Prefect stored before issue #15 (parameters, logs, artifacts); idempotent
scrub-runs: install
	$(PY) -m deployments.scrub

# backups: make up's var/ and mlflow/ (consistent SQLite copies even while it runs) -> backups/<ts>-local/
backup:
	deployments/backup/backup.sh --local
restore:  # make restore FROM=backups/<ts>-local (after make down)
	deployments/backup/restore.sh --local $(FROM)
# the compose volumes (+ a pg_dump of the data core's database) -> backups/<ts>/
backup-compose:
	deployments/backup/backup.sh
restore-compose:  # make restore-compose FROM=backups/<ts> (after docker compose down)
	deployments/backup/restore.sh --with-database $(FROM)

# every compose file and profile, validated by Debian's docker-compose (no engine needed), with the
# placeholder secrets of deployments/compose-check.env (never the checkout's .env)
compose-check: system-deps
	@for f in "" "-f compose.yaml -f compose.dev.yaml" "-f compose.yaml -f compose.prod.yaml"; do \
	  for p in "" "--profile monitoring" "--profile scale"; do \
	    docker-compose --env-file deployments/compose-check.env $$f $$p config -q || exit 1; \
	  done; done; echo "compose files valid"

# the compose stack built and run on a Docker engine (tests/deploy/compose_stack.py: dockerd started and
# stopped when none runs, stand-in base images where no registry answers, every check, down -v at the end)
compose-test: install
	$(PY) tests/deploy/compose_stack.py

# constraints.txt: every Python package pinned, from the working venv (the Makefile and every Dockerfile use it)
constraints:
	@(sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -vi '^carbon-nexus' \
	  | sed 's/^torch==\(.*\)+cpu$$/torch==\1/') > constraints.txt.new && mv constraints.txt.new constraints.txt

lint: install
	$(PY) -m ruff check services flows deployments tests bench tools
	$(PY) -m mypy services/common services/platform.py services/platform_env.py services/data_core/units.py services/data_core/settings.py services/data_core/events.py services/data_core/db.py services/data_core/demo.py \
	  services/ml_engine/settings.py services/ml_engine/serving.py services/ml_engine/registry.py services/ml_engine/signing.py \
	  services/ml_engine/app.py services/ml_engine/history.py services/orchestration services/lib \
	  services/data_core/streams.py services/data_core/episodes.py services/data_core/alerting.py services/data_core/recommending.py \
	  services/data_core/serialisers.py services/data_core/bulk.py services/data_core/paging.py services/data_core/routes/hotspots.py \
	  services/data_core/routes/alerts.py services/data_core/routes/recommendations.py services/data_core/routes/streams.py \
	  services/rag services/frontend flows tools bench/harness.py

# make test: pytest on three workers (the tests wait on their servers: two kept 1.23 of 2 cores busy), a file
# per worker at a time (its module fixtures built once). The images build in the background (tests/deploy/compose_stack.py --build-only, at low CPU
# priority, log in var/compose-test/build.log) while pytest runs; then the compose stack's checks. Both always
# run; make test fails if either does.
test: install lint ui-test
	@mkdir -p var/compose-test
	@$(PY) tests/deploy/compose_stack.py --build-only > var/compose-test/build.log 2>&1 & build=$$!; \
	  $(PY) -m pytest -q -p no:cacheprovider -n 3 --dist loadfile --junitxml=var/test-results.xml; pytest=$$?; \
	  wait $$build || { echo "background image build failed (var/compose-test/build.log):"; tail -30 var/compose-test/build.log; }; \
	  $(MAKE) --no-print-directory compose-test; compose=$$?; \
	  echo "make test: pytest exit $$pytest, compose-test exit $$compose"; test $$pytest = 0 -a $$compose = 0

test-fast: install
	$(PY) -m pytest -q -m "not slow" -x

bench: install
	$(PY) bench/ingest.py

bench-ml: install
	$(PY) bench/accuracy.py --json bench/out/accuracy.json
	$(PY) bench/serve.py --json bench/out/serve.json

clean: down
	rm -rf var
