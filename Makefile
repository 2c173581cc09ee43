# Peerline. `make demo` and `make test` work on a machine with only Python and pip:
# they install uv with pip when it is missing, then `uv sync --locked`.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif

.PHONY: setup browser demo test lint types pytest run bench

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked

# The console's browser tests drive Debian's Chromium (no browser download); installed when missing.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

demo: setup
	$(UV) run --locked peerline demo

test: setup browser lint types pytest

lint:
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .

types:
	$(UV) run --locked mypy

pytest:
	$(UV) run --locked pytest -q

run: setup
	$(UV) run --locked peerline serve

bench: setup
	$(UV) run --locked python -m bench.inbound
	$(UV) run --locked python -m bench.triage_eval
