# txipv8 developer entry points. `make test` and `make run` set up everything they need.
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
REF_VENV := .venv-ref
REF_PY := $(REF_VENV)/bin/python
STAMP := $(VENV)/.txipv8-installed
REF_STAMP := $(REF_VENV)/.pyipv8-installed
# A small interpreter with cryptography<47, the last releases with the binary curves of Dispersy's
# legacy keys: the key tests use it to check that path for real.
LEGACY_VENV := .venv-legacy
LEGACY_STAMP := $(LEGACY_VENV)/.legacy-installed
PYTEST_ARGS ?=

.PHONY: test run vectors bench bench-reference deps venv ref-venv clean

deps:
	@sh .ci/ensure-libsodium.sh

$(STAMP): setup.cfg pyproject.toml
	@sh .ci/ensure-libsodium.sh
	@test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -q --upgrade pip
	$(VENV_PY) -m pip install -q --config-settings editable_mode=compat -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

$(REF_STAMP):
	@sh .ci/ensure-libsodium.sh
	@test -x $(REF_PY) || $(PYTHON) -m venv $(REF_VENV)
	$(REF_PY) -m pip install -q 'pyipv8==3.2.1'
	@touch $(REF_STAMP)

ref-venv: $(REF_STAMP)

$(LEGACY_STAMP):
	@test -x $(LEGACY_VENV)/bin/python || $(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/python -m pip install -q 'cryptography<47' libnacl
	@touch $(LEGACY_STAMP)

test: $(STAMP) $(LEGACY_STAMP)
	TXIPV8_LEGACY_PYTHON=$(CURDIR)/$(LEGACY_VENV)/bin/python $(VENV_PY) -m pytest -q $(PYTEST_ARGS)

run: $(STAMP)
	$(VENV_PY) -m ipv8.demo

vectors: $(REF_STAMP)
	$(REF_PY) tests/vectors/make_vectors.py tests/vectors

bench: $(STAMP)
	$(VENV_PY) bench/serialization.py $(BENCH_ARGS)

bench-reference: $(STAMP) $(REF_STAMP)
	$(VENV_PY) bench/serialization.py --reference $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(LEGACY_VENV) build dist *.egg-info .hypothesis
