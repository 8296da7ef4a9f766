# Everything a newcomer needs: `make demo` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Real Airbyte sources (and PyAirbyte) for the chaining tests, each in its own venv: their pinned dependencies
# (older airbyte-cdk, pydantic 1, pandas...) would clash with ours. uv installs the three in under a minute.
UV_VERSION := 0.13.9
SOURCES := .venv-sources
SOURCE_STAMPS := $(SOURCES)/faker/.installed $(SOURCES)/file/.installed $(SOURCES)/pyairbyte/.installed

.PHONY: install sources demo test emulator benchmark spec images

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(BIN)/uv: | $(STAMP)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)

# Pins in integration_tests/chaining/requirements/; airbyte-source-file needs Python below 3.12.
$(SOURCES)/%/.installed: integration_tests/chaining/requirements/%.txt | $(BIN)/uv
	rm -rf $(SOURCES)/$*
	$(BIN)/uv venv --quiet --no-python-downloads --python $(PYTHON) $(SOURCES)/$*
	$(BIN)/uv pip install --quiet --native-tls --python $(SOURCES)/$*/bin/python -r $<
	touch $@

sources: $(SOURCE_STAMPS)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP) $(SOURCE_STAMPS)
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
