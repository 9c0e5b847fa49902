# Two entry points a new user needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# requirements*.lock: exact versions with hashes (`make lock` refreshes them from pyproject.toml)
LOCK := requirements-test.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)

.PHONY: run reset test lint bench sample clean lock image-test fuzz soak

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@echo "compiling the pricing kernels once (cached on disk; about a minute)"
	$(BIN)/python -c "from monitor.pricing import black; black.warm_up()"
	rm -f $(VENV)/.installed-* && touch $@

# the demo replays the same recorded session: each `make run` starts it from a clean state
run: $(STAMP) reset
	$(BIN)/vixmon run

# forget the demo's alert states, rule memory and streams: the embedded Redis's data under
# ./state (its AOF and RDB files; anything else there, such as a cached VIX history, stays)
reset:
	rm -rf state/appendonlydir state/appendonly.aof state/dump.rdb

test: $(STAMP)
	$(BIN)/ruff check monitor adapters tests bench scripts deploy
	$(BIN)/mypy monitor adapters
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	for b in bench/*.py; do [ $$b = bench/soak.py ] || $(BIN)/python $$b || exit 1; done

# The 30-minute soak (bench/soak.py): two engine replicas at 100,000 quotes/s, alerts firing,
# one replica killed and restarted midway; exits 1 unless nothing was lost or sent twice, RSS
# stayed within 5% after warm-up and lag stayed bounded (`make test` runs a 60-s version).
soak: $(STAMP)
	$(BIN)/python bench/soak.py --seconds $${SOAK_SECONDS:-1800} --json soak.json

# Fuzz every input boundary (tests/fuzz/targets.py) with atheris, FUZZ_RUNS inputs per target
# (`make test` runs a short hypothesis pass of the same targets); without atheris, a long
# hypothesis run instead.
FUZZ_RUNS ?= 1000000
FUZZ_TARGETS := quote_json quote_binary dxlink tradier cboe config
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet atheris || echo "atheris unavailable: hypothesis only"
	mkdir -p .fuzz
	if $(BIN)/python -c "import atheris" 2>/dev/null; then \
	  for t in $(FUZZ_TARGETS); do \
	    (cd .fuzz && ../$(BIN)/python ../tests/fuzz/run_atheris.py $$t -runs=$(FUZZ_RUNS)) \
	      || exit 1; \
	  done; \
	else VIXMON_FUZZ_EXAMPLES=20000 $(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz; fi

sample: $(STAMP)
	$(BIN)/python scripts/make_sample_session.py

# Re-resolve the locks from pyproject.toml, keeping current pins where they still fit
# (`make lock UPGRADE=--upgrade` moves everything to the newest allowed versions).
COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' --quiet $(UPGRADE)
lock: $(STAMP)
	$(COMPILE) --extra test --extra dev -o requirements-test.lock
	$(COMPILE) -c requirements-test.lock -o requirements.lock

# Build the image with podman and run it as deployed (read-only, unprivileged; needs root)
image-test: $(STAMP)
	$(BIN)/python deploy/docker/image_test.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .fuzz
