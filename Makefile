# The README's two commands: `make run` (set up + start the app on the demo) and
# `make test` (set up + run the whole suite headless). Both create .venv if it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench installer clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/prune-studio --demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n 2 --dist loadfile -m "not heavy"

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests/benchmarks -s -p no:randomly
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests -m heavy -p no:randomly

installer: $(STAMP)
	bash installer/build.sh

clean:
	rm -rf build dist installer/build installer/dist .pytest_cache
