# Marcus: developer entry points. `make` (or `make help`) lists them.
#
# Every target works on a fresh clone: the ones that run Python depend on `install`,
# which installs uv if it is missing and syncs the locked workspace.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# uv itself: the one on PATH, else the one `install` puts into this Python.
PYTHON ?= python3
UV ?= $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen

# Workspace parts. New services only need a directory under services/ (and a line in
# the Procfile / compose.yaml to be part of the running stack).
SERVICES := $(sort $(notdir $(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml))))
LIBS := $(sort $(notdir $(patsubst %/pyproject.toml,%,$(wildcard libs/*/pyproject.toml))))

# Overridable knobs: `make token SUB=alice ROLE=customer`, `make republish FROM=120`,
# `make rebuild-projections SERVICE=catalog`.
SUB ?= dev-admin
ROLE ?= admin
TTL ?= 86400
EMAIL ?=
SERVICE ?= $(SERVICES)
FROM ?= 1
TRIM_ARGS ?=
PYTEST_ARGS ?=

.PHONY: help install up down logs ps status seed token test test-unit test-integration test-e2e schemas lint fmt \
	migrate rebuild-projections republish bench-bus clean install-local-model reindex bench-index \
	bench-orders mail api-docs bench-observability bench-configurator test-reliability test-fuzz \
	bench-notifier image release k8s test-deploy trim-streams test-browser vendor-check

help: ## Show this help
	@echo "Marcus: make <target> [VAR=value]"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  services: $(SERVICES)"
	@echo "  libs:     $(LIBS)"

install: ## Install uv if missing, then the locked dependencies (uv sync --frozen --inexact)
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || { \
		echo "uv not found: installing it with pip"; \
		$(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv; }
	@$(UV) sync --frozen --all-packages --inexact --quiet

# The local embedder (all-MiniLM-L6-v2) needs a CPU torch. uv never resolves torch (see
# pyproject: from the index it is a multi-GB CUDA build); pip installs it into the
# project's venv, and `uv sync --inexact` / `uv run` leave it there. On Linux, PyPI's
# torch is the CUDA build (several GB with its nvidia-* wheels): set TORCH_INDEX_URL to
# PyTorch's CPU wheels, https://download.pytorch.org/whl/cpu (about 200 MB). Empty: pip's
# own configuration (its index, mirror or wheel folders) decides. `make up` runs this
# target the first time unless EMBEDDER=hash (or openai).
TORCH_VERSION ?= 2.13.0
TORCH_INDEX_URL ?=
LOCAL_MODEL_CHECK := from marcus_search import local_model_available as ok; import sys; sys.exit(0 if ok() else 1)
install-local-model: install ## Install CPU torch into .venv with pip, for the local MiniLM embedder (TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu)
	@if .venv/bin/python -c "import torch" 2>/dev/null; then \
		echo "torch $$(.venv/bin/python -c 'import torch; print(torch.__version__)') already installed in .venv"; \
	else \
		echo "==> local MiniLM embedder: installing torch==$(TORCH_VERSION) (CPU) into .venv with pip"; \
		echo "    from $(if $(TORCH_INDEX_URL),$(TORCH_INDEX_URL),pip's configured index (set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu for PyTorch's CPU wheels))"; \
		echo "    (EMBEDDER=hash make up skips this)"; \
		.venv/bin/python -m marcus_search.install_plan --pip "$(PYTHON) -m pip" --target .venv/bin/python \
			$(if $(TORCH_INDEX_URL),--index-url "$(TORCH_INDEX_URL)") "torch==$(TORCH_VERSION)"; \
		$(PYTHON) -m pip --python .venv/bin/python install --progress-bar off \
			$(if $(TORCH_INDEX_URL),--index-url "$(TORCH_INDEX_URL)") "torch==$(TORCH_VERSION)"; \
		echo "    installed: torch $$(du -sh .venv/lib/python3*/site-packages/torch 2>/dev/null | cut -f1) on disk"; \
	fi
	@HF_HUB_OFFLINE=1 $(RUN) python -c "from marcus_search import local_model_available as ok; \
		import sys; print('local MiniLM embedder available' if ok() else 'local MiniLM NOT available'); sys.exit(0 if ok() else 1)"

# ------------------------------------------------------------------- the stack
# EMBEDDER from the environment, else from .env, else auto.
up: install ## Start the whole stack as local processes (migrate, serve, gateway); the first run installs the local MiniLM embedder unless EMBEDDER=hash
	@embedder="$${EMBEDDER:-$$( (sed -n 's/^EMBEDDER=//p' .env 2>/dev/null || true) | tail -n 1 | tr -d "\"' ")}"; \
	case "$${embedder:-auto}" in \
		hash|openai) echo "EMBEDDER=$$embedder: no local MiniLM install";; \
		*) .venv/bin/python -c "$(LOCAL_MODEL_CHECK)" 2>/dev/null || $(MAKE) install-local-model \
			|| echo "warning: the local MiniLM embedder could not be installed: search runs on the hashing embedder (retry: make install-local-model; the index rebuilds itself)";; \
	esac
	@$(RUN) python -m scripts.stack up

down: install ## Stop the stack started by `make up` (whole process group)
	@$(RUN) python -m scripts.stack down

logs: install ## Follow the stack's logs (.data/logs/<name>.log, supervisord.log)
	@$(RUN) python -m scripts.stack logs

ps: status ## Alias of status
status: install ## One screen: services' readiness and restarts, consumer groups' lag and pending, DLQ sizes, streams' size and retention, active index
	@$(RUN) python -m scripts.stack status

seed: install ## Load the sample catalog through the catalog API (idempotent)
	@$(RUN) python scripts/seed.py

token: install ## Mint a development JWT (SUB=dev-admin ROLE=admin TTL=86400 EMAIL=)
	@$(RUN) python -m marcus_web.token --sub "$(SUB)" --role "$(ROLE)" --ttl "$(TTL)" --email "$(EMAIL)"

migrate: install ## Create the database if missing and migrate every stack service
	@$(RUN) python -m scripts.stack migrate

rebuild-projections: install ## Rebuild current-state tables from the event store (SERVICE=...)
	@for s in $(SERVICE); do echo "==> $$s: rebuild-projections"; \
		$(RUN) python -m $$s rebuild-projections; done

trim-streams: install ## Stream retention now (STREAM_RETENTION, as the scheduler's job): report; TRIM_ARGS="--apply" trims
	@$(RUN) python -m scripts.streams trim $(TRIM_ARGS)

republish: install ## Re-publish a service's events to its stream (SERVICE=catalog FROM=1)
	@for s in $(SERVICE); do echo "==> $$s: republish from position $(FROM)"; \
		$(RUN) python -m $$s republish --from-position "$(FROM)"; done

# ------------------------------------------------------------------------ tests
# Tests use TEST_DATABASE_URL / TEST_REDIS_URL when set (CI), else testcontainers. When
# they are unset and a PostgreSQL / Redis answers locally (DATABASE_URL / REDIS_URL, or
# the defaults), TEST_ENV points the tests at those: no Docker needed. Each run still
# works in its own database and key prefix.
TEST_ENV = eval "$$($(RUN) python -m scripts.stack test-env)";

test: install ## Run all tests, every tier (uv run pytest)
	@$(TEST_ENV) echo "$(RUN) pytest $(PYTEST_ARGS)"; $(RUN) pytest $(PYTEST_ARGS)

# Tiers (tests/support/tiers.py marks each test from its folder): unit = */tests/unit and
# the pure suites of tests/, run with NO database or Redis (TEST_* unset; a unit test that
# asks for one fails saying so); integration = one service against real servers, and
# every folder without a tier subfolder; e2e = services as processes.
test-unit: install ## Unit tier: */tests/unit and the pure suites of tests/, no database or Redis, under a minute
	@paths="$$($(RUN) python -m tests.support.tiers paths unit | tr '\n' ' ')"; \
	echo "$(RUN) pytest -m unit $$paths $(PYTEST_ARGS)"; rc=0; \
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL MARCUS_TEST_TIER=unit \
		$(RUN) pytest -m unit $$paths $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no unit tests collected"; rc=0; fi; exit $$rc

test-integration: install ## Integration tier: each service or lib against real PostgreSQL / Redis / Chroma, in process
	@$(TEST_ENV) echo "$(RUN) pytest -m integration $(PYTEST_ARGS)"; \
	$(RUN) pytest -m integration $(PYTEST_ARGS)

test-e2e: install ## End-to-end tier: services as processes, nginx, browser, make up (tests/ suites and */tests/e2e)
	@$(TEST_ENV) echo "$(RUN) pytest -m e2e $(PYTEST_ARGS)"; $(RUN) pytest -m e2e $(PYTEST_ARGS)

test-reliability: install ## Fault-injection suite, full profile: 3 rounds of each fault under load, report in .data/reliability (tests/reliability)
	@echo "RELIABILITY_PROFILE=full $(RUN) pytest tests/reliability $(PYTEST_ARGS)"; \
	RELIABILITY_PROFILE=full $(RUN) pytest tests/reliability $(PYTEST_ARGS)

test-browser: install ## Browser tests: the storefront in Debian's Chromium (Playwright; CHROMIUM_PATH=/usr/bin/chromium) in front of the stack behind nginx; screenshots in .data/screenshots (tests/browser)
	@$(TEST_ENV) echo "$(RUN) pytest tests/browser $(PYTEST_ARGS)"; $(RUN) pytest tests/browser $(PYTEST_ARGS)

vendor-check: install ## Check the storefront's vendored htmx against its recorded sha384; VENDOR=fetch downloads it again from the npm registry and verifies it
	$(RUN) python -m storefront.vendor $(or $(VENDOR),check)

test-fuzz: install ## API fuzzing (schemathesis, every service and the gateway) and input limits; FUZZ_EXAMPLES=20 per operation (tests/fuzzing)
	@$(TEST_ENV) echo "$(RUN) pytest tests/fuzzing $(PYTEST_ARGS)"; $(RUN) pytest tests/fuzzing $(PYTEST_ARGS)

# test-<part>: the part's own tests plus tests/<part> where they exist.
TEST_PARTS := $(addprefix test-,$(SERVICES) $(LIBS) catalog contracts eventstore messaging gateway observability access)
.PHONY: $(TEST_PARTS)
test-catalog: ## Catalog service tests (services/catalog/tests)
test-scheduler: ## Scheduler service tests (services/scheduler/tests)
test-orders: ## Orders tests: the order saga end to end, services as processes (services/orders/tests)
test-notifier: ## Notifier tests: exactly-once e-mail, SIGKILL and SMTP outages (services/notifier/tests)
test-contracts: ## Contracts tests (libs/contracts/tests)
test-eventstore: ## Event store tests: relay, retention, views, the shared tables every migration creates (libs/eventstore/tests)
test-messaging: ## Messaging tests: consumer runtime, batches, crashes, Redis outages, operations API (libs/messaging/tests)
test-indexer: ## Indexer service tests (services/indexer/tests)
test-assistant: ## Assistant service tests (services/assistant/tests)
test-search: ## Search lib tests (libs/search/tests)
test-storefront: ## Storefront tests in process: sign-in rules, CSRF, API errors in words (services/storefront/tests)
test-gateway: ## Gateway tests: nginx in front of the services as processes, 413/429/503, API docs (tests/gateway)
test-access: ## Access matrix: every endpoint x caller (anonymous, customers, admin, forged tokens) -> status, no leaks, direct and through nginx (tests/access)
test-observability: ## Tracing across events, metrics after traffic, make status (tests/observability)
test-telemetry: ## Telemetry lib tests: JSON logs, redaction, traceparent (libs/telemetry/tests)
$(sort $(TEST_PARTS)): test-%: install
	@paths="$(wildcard services/$*/tests libs/$*/tests tests/$*)"; \
	if [ -z "$$paths" ]; then echo "no tests for '$*' yet"; exit 0; fi; \
	$(TEST_ENV) echo "$(RUN) pytest $$paths $(PYTEST_ARGS)"; \
	$(RUN) pytest $$paths $(PYTEST_ARGS)

# ---------------------------------------------------------------- code quality
schemas: install ## Export the JSON Schema of every event version (libs/contracts)
	$(RUN) python -m marcus_contracts.schemas export

lint: install ## ruff check, ruff format --check, mypy (libs/*/src, services/*/src)
	@status=0; \
	echo "$(RUN) ruff check ."; $(RUN) ruff check . || status=1; \
	echo "$(RUN) ruff format --check ."; $(RUN) ruff format --check . || status=1; \
	echo "$(RUN) mypy $(wildcard libs/*/src) $(wildcard services/*/src)"; \
	$(RUN) mypy $(wildcard libs/*/src) $(wildcard services/*/src) || status=1; \
	exit $$status

fmt: install ## Format and autofix (ruff format, ruff check --fix)
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

reindex: install ## Rebuild the search index from a catalog snapshot (REBUILD_SOURCE=replay: by replaying events.catalog)
	$(RUN) python -m indexer reindex

.PHONY: bench
bench: install ## Every benchmark in one go, ~40 min (quick ~6 min) (BENCH_ARGS="--profile quick", or bench names): bench/results/<date>.{json,md,png}
	$(RUN) python -m bench $(BENCH_ARGS)

bench-index: install ## Index benchmarks as processes: freshness, scale-out 1-3 indexers, rebuild (BENCH_ARGS=freshness)
	$(RUN) python -m bench.index $(BENCH_ARGS)

bench-bus: install ## Event bus vs raw redis-py and vs Celery, processes as in production (BENCH_ARGS="--profile quick")
	$(RUN) python -m bench.bus $(BENCH_ARGS)

bench-orders: install ## Orders end to end (HTTP -> confirmed -> e-mail) at 1 and 2 replicas (bench/results/)
	$(RUN) python -m bench.orders $(BENCH_ARGS)

bench-notifier: install ## Notifier scale-out: one backlog of order e-mails with 1, 2, 3 consumers (bench/results/)
	$(RUN) python -m bench.notifier $(BENCH_ARGS)

bench-observability: install ## Cost of tracing (off/on) and JSON logs: consumer wrapper, HTTP middleware, log line (bench/results/)
	$(RUN) python -m bench.observability $(BENCH_ARGS)

bench-configurator: install ## Cost of checking and pricing configurations: quote vs GET, configured vs simple reservation (bench/results/)
	$(RUN) python -m bench.configurator $(BENCH_ARGS)

.PHONY: bench-growth
bench-growth: install ## History growth: rebuild time vs history length (replay, snapshot), Redis memory over 30 days with 7-day retention (BENCH_ARGS="--profile quick")
	$(RUN) python -m bench.growth $(BENCH_ARGS)

.PHONY: bench-grounding
bench-grounding: install ## Grounding rate of chat replies: scripted errors caught, correct replies untouched, TTFT cost (bench/results/)
	$(RUN) python -m bench.grounding $(BENCH_ARGS)

api-docs: install ## Build the combined OpenAPI + AsyncAPI documents into deploy/gateway/docs
	$(RUN) python -m scripts.api_docs build

mail: install ## List the e-mails the local SMTP catcher received (.data/mail)
	@$(RUN) python -m scripts.mailcatcher list --dir .data/mail

# ------------------------------------------------------------ release and deploy
# One service at a time: SERVICE names exactly one (a service under services/, or gateway).
PART ?= patch
DRY_RUN ?=
REGISTRY ?=

image: ## Build ONE service's image tagged with its version: SERVICE=catalog (DRY_RUN=1 only prints the docker build)
	@$(PYTHON) deploy/release.py image "$(SERVICE)" $(if $(DRY_RUN),--dry-run) $(if $(REGISTRY),--registry $(REGISTRY))

release: ## Bump ONE service's version (PART=patch|minor|major), its uv.lock entry, CHANGELOG and production image tag
	@$(PYTHON) deploy/release.py bump "$(SERVICE)" --part $(PART)

k8s: ## Render the Kustomize overlays into deploy/k8s/rendered/<overlay>.yaml (needs kubectl)
	@$(PYTHON) deploy/k8s/render.py

compat: install ## Can the consumers' released versions (tags <group>-v<version>) read what SERVICE writes now? (SERVICE=orders; default: every producer)
	$(RUN) python deploy/compat.py $(if $(filter 1,$(words $(SERVICE))),$(SERVICE))

test-deploy: install ## tests/deploy and tests/test_compose.py: manifests vs the Kubernetes and KEDA schemas, compose rules, releases
	$(RUN) pytest tests/deploy tests/test_compose.py $(PYTEST_ARGS)

clean: ## Stop the stack (and embedded servers) if they run, then remove the data folder (.data/)
	@if [ -d .data ]; then $(MAKE) down; fi
	rm -rf .data
