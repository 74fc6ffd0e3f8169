# Two commands: `make run` (the app on http://localhost:8501) and `make test` (the whole suite).
# Both start from a fresh machine with Python 3.11: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench loadtest serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.app: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test: requirements-test.txt $(VENV)/.app
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

run: $(VENV)/.app
	$(BIN)/streamlit run app.py --server.port 8501

test: $(VENV)/.test
	$(BIN)/python -m pytest tests

bench: $(VENV)/.app
	$(BIN)/python -m explorer bench

# A class of 30 on the live pages for a minute, without browsers (README: Load test). A benchmark, not a test.
loadtest: $(VENV)/.test
	$(BIN)/python -m explorer loadtest --students 30 --seconds 60

# One Streamlit process per core behind Debian's nginx, each browser pinned to one process (README: Hosting).
WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
PORT ?= 8501
serve: $(VENV)/.app
	$(BIN)/python deploy/serve.py --workers $(WORKERS) --port $(PORT)

clean:
	rm -rf $(VENV)
