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
# pyipv8 1.10.0, the last Twisted release and the last one with TrustChain: the reference for the 1.x
# TrustChain wire format. It predates Python 3.9, so a sitecustomize.py shim restores the two stdlib
# behaviours it relies on (base64.encodestring/decodestring, random.sample over a set).
IPV8_1X_VENV := .venv-ipv8-1x
IPV8_1X_PY := $(IPV8_1X_VENV)/bin/python
IPV8_1X_STAMP := $(IPV8_1X_VENV)/.pyipv8-1x-installed
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: test test-prereqs docs run vectors bench bench-reference deps venv ref-venv legacy-venv legacy-1x-venv clean

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

legacy-venv: $(LEGACY_STAMP)

$(IPV8_1X_STAMP):
	@sh .ci/ensure-libsodium.sh
	@test -x $(IPV8_1X_PY) || $(PYTHON) -m venv $(IPV8_1X_VENV)
	$(IPV8_1X_PY) -m pip install -q 'pyipv8==1.10.0' 'cryptography==41.0.7'
	$(IPV8_1X_PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > $(IPV8_1X_VENV)/.purelib
	printf '%s\n' \
		'# Lets pyipv8 1.10 (written for Python <3.9) run on a current interpreter.' \
		'import base64, random' \
		'if not hasattr(base64, "encodestring"):' \
		'    base64.encodestring = base64.encodebytes' \
		'    base64.decodestring = base64.decodebytes' \
		'_sample = random.Random.sample' \
		'def _sample_any(self, population, k, **kwargs):' \
		'    if isinstance(population, (set, frozenset)):' \
		'        population = tuple(population)' \
		'    return _sample(self, population, k, **kwargs)' \
		'random.Random.sample = _sample_any' \
		'random.sample = random._inst.sample' \
		> "$$(cat $(IPV8_1X_VENV)/.purelib)/sitecustomize.py"
	@touch $(IPV8_1X_STAMP)

legacy-1x-venv: $(IPV8_1X_STAMP)

# `$(call optional,COMMAND,NOTE)`: run a set-up step of an optional suite. If it fails, print NOTE; on a
# developer machine the suite then skips (and says why), but in CI (CI=true) the failure fails the run.
optional = $(1) || { echo "note: $(2)"; \
	if [ "$$CI" = true ]; then echo "CI=true: every suite must run in CI, so this is an error"; exit 1; fi; }

# The optional parts of the suite (legacy keys, live interop with pyipv8, the NAT lab) get what they need
# here; when one cannot be had (no package registry, not root) its tests skip and say why, except in CI.
test-prereqs:
	@$(call optional,$(MAKE) --no-print-directory legacy-venv,no cryptography<47 venv: the extra legacy-key cross-check will skip)
	@$(call optional,$(MAKE) --no-print-directory ref-venv,no pyipv8 3.2.1 venv: the interop suite will skip)
	@$(call optional,sh .ci/ensure-netlab-tools.sh,no NAT-lab tools: the NAT-lab tests will skip)
	@$(call optional,$(MAKE) --no-print-directory legacy-1x-venv,no pyipv8 1.10 venv: the TrustChain interop tests will skip)
	@$(call optional,sh .ci/ensure-chromium.sh,no chromium: the browser tests will skip)

# -ra lists every skipped test with its reason. With CI=true, tests/conftest.py turns a skip of the interop,
# NAT-lab, legacy-key, browser or API-reference suites into a failure.
test: $(STAMP) test-prereqs
	@if [ -x $(LEGACY_VENV)/bin/python ] && [ -f $(LEGACY_STAMP) ]; then \
		export TXIPV8_LEGACY_PYTHON=$(CURDIR)/$(LEGACY_VENV)/bin/python; fi; \
	$(VENV_PY) -m pytest -q -ra $(PYTEST_ARGS)

# The API reference (pydoctor) in doc/api/; fails on broken cross-references in our docstrings.
docs: $(STAMP)
	$(VENV_PY) doc/build_api.py doc/api

# A tracker and three IPv8 nodes on 127.0.0.1 (REST API of node1 on 127.0.0.1:8085); Ctrl-C stops them.
# Options go in RUN_ARGS, e.g. make run RUN_ARGS="--nodes 5 --rest-port 8090".
run: $(STAMP)
	$(VENV_PY) -m ipv8.scripts.local_network $(RUN_ARGS)

vectors: $(REF_STAMP)
	$(REF_PY) tests/vectors/make_vectors.py tests/vectors
	$(REF_PY) tests/peerdiscovery/make_discovery_vectors.py tests/peerdiscovery/discovery_vectors.json
	$(REF_PY) tests/dht/make_dht_vectors.py tests/dht/dht_vectors.json
	$(MAKE) --no-print-directory legacy-1x-venv && $(IPV8_1X_PY) tests/attestation/trustchain/make_trustchain_vectors.py tests/attestation/trustchain/trustchain_vectors.json
	$(REF_PY) tests/messaging/anonymization/make_tunnel_crypto_vectors.py tests/messaging/anonymization/tunnel_crypto_vectors.json
	$(REF_PY) tests/messaging/anonymization/make_tunnel_payload_vectors.py tests/messaging/anonymization/tunnel_payload_vectors.json
	$(REF_PY) tests/attestation/wallet/make_wallet_vectors.py tests/attestation/wallet/wallet_vectors.json
	$(REF_PY) tests/attestation/wallet/make_attestation_vectors.py tests/attestation/wallet/attestation_vectors.json
	$(REF_PY) tests/attestation/identity/make_identity_vectors.py tests/attestation/identity/identity_vectors.json
	$(REF_PY) tests/messaging/anonymization/make_pex_vectors.py tests/messaging/anonymization/pex_vectors.json

bench: $(STAMP) $(if $(findstring --reference,$(BENCH_ARGS)),$(REF_STAMP) $(IPV8_1X_STAMP))
	$(VENV_PY) bench/serialization.py $(BENCH_ARGS)
	$(VENV_PY) bench/messaging.py $(BENCH_ARGS)
	$(VENV_PY) bench/discovery.py $(BENCH_ARGS)
	$(VENV_PY) bench/keys.py $(BENCH_ARGS)
	$(VENV_PY) bench/dht.py $(BENCH_ARGS)
	$(VENV_PY) bench/tunnel_crypto.py $(BENCH_ARGS)
	$(VENV_PY) bench/tunnels.py $(BENCH_ARGS)
	$(VENV_PY) bench/attestation.py $(BENCH_ARGS)
	$(VENV_PY) bench/identity.py $(BENCH_ARGS)
	$(VENV_PY) bench/trustchain.py $(BENCH_ARGS)

bench-reference: $(STAMP) $(REF_STAMP) $(IPV8_1X_STAMP)
	$(VENV_PY) bench/serialization.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/messaging.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/discovery.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/keys.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/dht.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/tunnel_crypto.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/tunnels.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/attestation.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/identity.py --reference $(BENCH_ARGS)
	$(VENV_PY) bench/trustchain.py --reference $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(LEGACY_VENV) build dist *.egg-info .hypothesis doc/api
