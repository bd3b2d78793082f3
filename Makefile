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

pytest: bootstrap
	$(VENV)/python -m pytest -q

# The whole suite: lint, types, and every test on SQLite and PostgreSQL.
test: lint typecheck pytest

bench: bootstrap
	$(VENV)/python -m bench
