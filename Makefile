# One entry point for the everyday tasks. Each target bootstraps .venv from uv.lock first.
.PHONY: demo test lint typecheck pytest bench bootstrap

VENV := .venv/bin

bootstrap:
	@./scripts/bootstrap

demo: bootstrap
	$(VENV)/mana demo

lint: bootstrap
	$(VENV)/ruff check src tests bench
	$(VENV)/ruff format --check src tests bench

typecheck: bootstrap
	$(VENV)/mypy src

# Tests run on up to 4 worker processes (pytest-xdist); each worker makes its own throwaway
# databases, so workers share nothing but the PostgreSQL server.
pytest: bootstrap
	$(VENV)/python -m pytest -q --numprocesses=auto --maxprocesses=4

# The whole suite: lint, types, and every test on SQLite and PostgreSQL.
test: lint typecheck pytest

bench: bootstrap
	$(VENV)/python -m bench
