# AI Provider Service. `make run` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/lock.txt
AI_PROVIDER_PORT ?= 8005
AI_PROVIDER_HOST ?= 127.0.0.1
export AI_PROVIDER_PORT

.PHONY: run test lint check venv lock migrate demo emulator bench clean help

help:
	@echo "make run     start the service on :$(AI_PROVIDER_PORT) (SQLite + local memory by default)"
	@echo "make demo    the same, every provider answered by the local emulator (no keys needed)"
	@echo "make test    run the whole test suite"
	@echo "make bench   the benchmark (writes docs/benchmarks.md)"
	@echo "make lint    ruff"
	@echo "make lock    re-pin requirements/lock.txt from pyproject.toml (needs uv)"

venv: $(VENV)/.installed

$(VENV)/.installed: $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	touch $@

# Two pins from one pyproject: the full set (make, CI) and the runtime set (the Docker image).
lock:
	uv pip compile pyproject.toml --group dev --python-version 3.11 --generate-hashes -o $(LOCK)
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements/lock-runtime.txt

migrate: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py sync_providers
	$(BIN)/python manage.py setup_periodic_tasks

run: migrate
	@# Development mode: creates (once) and prints an API key with a curl example. Production: no-op.
	$(BIN)/python manage.py ensure_dev_key
	$(BIN)/uvicorn aiprovider_site.asgi:application --host $(AI_PROVIDER_HOST) --port $(AI_PROVIDER_PORT) \
		--no-access-log --log-level warning

EMULATOR_PORT ?= 8105
EMULATOR_ENV := PROVIDER_EMULATOR_URL=http://127.0.0.1:$(EMULATOR_PORT) OPENAI_API_KEY=emulator \
	ANTHROPIC_API_KEY=emulator GOOGLE_AI_API_KEY=emulator DEEPSEEK_API_KEY=emulator

emulator: venv
	$(BIN)/python manage.py run_emulator --port $(EMULATOR_PORT)

# The whole service with every provider answered by the local emulator: no keys, no network.
# Answers say so in their `provider` field ("openai (emulator)").
demo: migrate
	$(BIN)/python manage.py ensure_dev_key
	@echo "Providers answer from the emulator on 127.0.0.1:$(EMULATOR_PORT)."
	$(BIN)/python manage.py run_emulator --port $(EMULATOR_PORT) & EMULATOR_PID=$$!; \
	trap 'kill $$EMULATOR_PID' EXIT INT TERM; \
	$(EMULATOR_ENV) $(BIN)/uvicorn aiprovider_site.asgi:application --host $(AI_PROVIDER_HOST) \
		--port $(AI_PROVIDER_PORT) --no-access-log --log-level warning

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

check: venv
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

clean:
	rm -rf $(VENV) var/*.sqlite3*

bench: venv
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python bench/run.py
