# Two entry points that work on a fresh machine: `make demo` and `make test`.
# Both create a virtual environment in .venv and install Tanggap into it (editable) first.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test unit integration install clean

$(BIN)/tanggap: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/tanggap

demo: install
	$(BIN)/tanggap demo

test: install
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest tests/integration

clean:
	rm -rf $(VENV) var *.egg-info
