# Everything a newcomer needs: `make demo` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test emulator benchmark spec images

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/pytest
	$(BIN)/python scripts/suite_on_one_server.py

emulator: $(STAMP)
	$(BIN)/listmonk-emulator

benchmark: $(STAMP)
	$(BIN)/python scripts/benchmark.py

spec: $(STAMP)
	$(BIN)/python -m destination_listmonk.config

# Both connector images, with podman and no registry (Debian, as root): see docs/images.md.
images:
	scripts/build_images.sh
