# Two entry points that work on a fresh machine: `make demo` and `make test`.
# Both create a virtual environment in .venv and install Tanggap into it (editable) first.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test unit integration install clean constraints quality model

$(BIN)/tanggap: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
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

# Triage quality on the real labelled sets (../shared, skipped where absent) and the team's devset.
quality: install
	$(BIN)/python -m bench.quality

# Retrain the bundled Klaten model (deterministic): the team's posts (deploy/training, the dev set
# and the demo sample) and the licensed corpora.
SHARED_CORPORA ?= ../shared/data/realtext/corpora
model: install
	$(BIN)/tanggap --config deploy/config/klaten train tests/data/devset.jsonl streams/demo/sample_posts.jsonl \
		--archive-weight 1 --corpora $(SHARED_CORPORA)

# Pin what a fresh install resolved: run after changing dependencies in pyproject.toml.
constraints: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.body
	{ sed -n '1,2p' constraints.txt; cat constraints.body; } > constraints.new && mv constraints.new constraints.txt && rm constraints.body

clean:
	rm -rf $(VENV) var *.egg-info
