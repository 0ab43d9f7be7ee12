# Twofold: `make serve` runs the service on SQLite; `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_TOOLS := oathtool:oathtool zbarimg:zbar-tools chromium:chromium nginx:nginx-light
PG_VERSION = $(shell ls /etc/postgresql 2>/dev/null | head -n1)

.PHONY: serve test install install-test lock messages system-tools postgres lint typecheck pytest bench bench-tools bench-peer clean

# Installs come from uv.lock (every package pinned, with hashes); `make lock` renews it after a
# change to pyproject.toml, and `make lint` fails while the two disagree.
$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip uv

# Bytecode is compiled at install (site-packages by uv, src/ by compileall): where the
# environment sets PYTHONDONTWRITEBYTECODE, Python would otherwise compile every module again
# in every process it starts (the suite starts hundreds), about 5 s each on a 2-core machine.
# A source edited later is recompiled in memory until the next install, never run stale.
install: $(BIN)/python
	$(BIN)/uv sync -q --frozen --inexact --compile-bytecode
	$(BIN)/python -m compileall -q src

install-test: $(BIN)/python
	$(BIN)/uv sync -q --frozen --inexact --compile-bytecode --extra test
	$(BIN)/python -m compileall -q src

lock: $(BIN)/python
	$(BIN)/uv lock

# Translations (docs/i18n.md): extract every marked string of src/ (babel.cfg) into the
# template, then merge it into each language's catalogue; translate the empty msgstr lines.
LOCALES := src/twofold/locale
messages: install-test
	$(BIN)/pybabel extract -F babel.cfg --add-location=file --sort-by-file \
	  --project=Twofold --msgid-bugs-address="" -o $(LOCALES)/messages.pot src
	$(BIN)/pybabel update -i $(LOCALES)/messages.pot -d $(LOCALES) -D messages --ignore-obsolete

serve: install
	$(BIN)/twofold serve --host 127.0.0.1 --port 8000

# System tools the tests use as real parts: oathtool (authenticator), zbarimg (QR), chromium,
# nginx (auth_request, in front of forward-auth).
system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Start the local PostgreSQL cluster when it is installed but not running.
postgres:
	@if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then :; \
	elif [ -n "$(PG_VERSION)" ]; then \
	  pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start && \
	  for i in $$(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done; \
	else echo "PostgreSQL is not installed: the PostgreSQL half of the suite cannot run" >&2; exit 1; fi

lint: install-test
	$(BIN)/uv lock --check -q
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two test processes (pytest-xdist): most of the suite's time is spent waiting on servers,
# browsers and subprocesses, so two halve it on a 2-core machine. Each process has its own
# PostgreSQL database, SQLite files, ports and mail server (tests/conftest.py).
# TEST_PROCESSES=0 runs the suite in one process.
TEST_PROCESSES ?= 2
pytest: install-test system-tools postgres
	$(BIN)/pytest -q -n $(TEST_PROCESSES) $(PYTEST_ARGS)

test: install-test system-tools postgres lint pytest

# bench: its own tools (wrk; matplotlib in the project venv; privacyIDEA, the peer, in
# bench/.venv-privacyidea), then every measurement of bench/README.md. BENCH_ARGS=--quick.
PI_VENV := bench/.venv-privacyidea
$(PI_VENV)/bin/gunicorn:
	$(PY) -m venv $(PI_VENV)
	$(PI_VENV)/bin/pip install -q --upgrade pip
	$(PI_VENV)/bin/pip install -q privacyidea gunicorn psycopg2-binary

bench-tools: install-test
	@command -v wrk >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/pip install -q matplotlib py-spy pyinstrument

bench-peer: $(PI_VENV)/bin/gunicorn

bench: bench-tools bench-peer postgres
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) test-output .pytest_cache .mypy_cache twofold.db* twofold.key
