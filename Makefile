# Two entry points a new user needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench sample clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@echo "compiling the pricing kernels once (cached on disk; about a minute)"
	$(BIN)/python -c "from monitor.pricing import black; black.warm_up()"
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/vixmon run

test: $(STAMP)
	$(BIN)/ruff check monitor adapters tests bench scripts deploy
	$(BIN)/mypy monitor adapters
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

sample: $(STAMP)
	$(BIN)/python scripts/make_sample_session.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
