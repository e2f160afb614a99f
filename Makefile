# AI Provider Service. `make run` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/lock.txt
AI_PROVIDER_PORT ?= 8005
AI_PROVIDER_HOST ?= 127.0.0.1
EMULATOR_PORT ?= 8105
export AI_PROVIDER_PORT

.PHONY: run test lint check venv lock migrate demo emulator bench bench-compare clean help k8s

help:
	@echo "make run     start the service on :$(AI_PROVIDER_PORT) (SQLite + local memory by default)"
	@echo "make demo    the same, every provider answered by the local emulator on :$(EMULATOR_PORT) (no keys)"
	@echo "make test    run the whole test suite"
	@echo "make bench   the benchmark (writes docs/benchmarks.md)"
	@echo "make bench-compare   the benchmark beside a LiteLLM proxy (installs it into bench/.litellm)"
	@echo "make lint    ruff"
	@echo "make lock    re-pin requirements/lock.txt from pyproject.toml (needs uv)"
	@echo "make k8s     render the Kubernetes production overlay and validate every manifest"
	@echo "Ports: AI_PROVIDER_PORT=$(AI_PROVIDER_PORT) (gateway), EMULATOR_PORT=$(EMULATOR_PORT) (demo emulator)"

venv: $(VENV)/.installed

$(VENV)/.installed: $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv, when the machine has it, installs the same hashes several times faster than pip.
	if command -v uv >/dev/null 2>&1; then \
		uv pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK); \
	else \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK); \
	fi
	touch $@

# Two pins from one pyproject: the full set (make, CI) and the runtime set (the Docker image).
lock:
	uv pip compile pyproject.toml --group dev --python-version 3.11 --generate-hashes -o $(LOCK)
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements/lock-runtime.txt

migrate: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py sync_providers
	$(BIN)/python manage.py setup_periodic_tasks

# One process: takes the port (fails at once if it is in use), applies pending migrations, syncs the
# catalogue and the periodic tasks, says which provider keys are set, prints the development key
# with an example that works in this mode, then serves (aiprovider_site/management/commands/serve.py).
run: venv
	@$(BIN)/python aiprovider_site/ports.py run $(AI_PROVIDER_HOST) AI_PROVIDER_PORT=$(AI_PROVIDER_PORT)
	@$(BIN)/python manage.py serve --host $(AI_PROVIDER_HOST) --port $(AI_PROVIDER_PORT)

emulator: venv
	$(BIN)/python manage.py run_emulator --port $(EMULATOR_PORT)

# The whole service with every provider answered by the local emulator (in the same process, on
# EMULATOR_PORT): no keys, no network. Answers say so in their `provider` field ("openai (emulator)").
demo: venv
	@$(BIN)/python aiprovider_site/ports.py demo $(AI_PROVIDER_HOST) AI_PROVIDER_PORT=$(AI_PROVIDER_PORT) \
		EMULATOR_PORT=$(EMULATOR_PORT)
	@$(BIN)/python manage.py serve --demo --host $(AI_PROVIDER_HOST) --port $(AI_PROVIDER_PORT) \
		--emulator-port $(EMULATOR_PORT)

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

check: venv
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(BIN)/python deploy/kubernetes/render.py --check

clean:
	rm -rf $(VENV) var/*.sqlite3*

k8s: venv
	$(BIN)/python deploy/kubernetes/render.py --check

# Production-like (gunicorn, PostgreSQL, Redis; see docs/benchmarks.md). BENCH_QUICK=1: a smoke run.
bench: venv
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python bench/run.py

# The same, with a LiteLLM proxy (installed once into bench/.litellm) measured in the same rounds.
bench-compare: venv
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python bench/run.py --compare
