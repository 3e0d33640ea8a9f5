# Two commands for a fresh clone: `make run` and `make test`. Needs python3.11 (or python3), npm and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30

.PHONY: run test lint setup clean

setup: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed

# pip is quiet and takes a while: say what is happening. The repo itself goes in editable, without
# dependencies (the requirements pin them): that installs the `connector-gateway` console script into .venv.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@echo "make: creating $(VENV) and installing Python packages (requirements-dev.txt; about 15 s)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@echo "make: installing the connector-gateway command into $(VENV)/bin..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "make: installing Azurite with npm..."
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Checkov pins its own dependencies, so it gets a virtual environment of its own.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

run: $(VENV)/.installed node_modules/.installed
	$(BIN)/python -m devtools.run

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exits 5 when it collects nothing: say so plainly, a suite that runs no test is broken.
test: setup lint
	@$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; the suite is broken" >&2; fi; \
	exit $$status

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .local .pytest_cache .ruff_cache
