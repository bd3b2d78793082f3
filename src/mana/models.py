"""Import every model module so Base.metadata knows all tables (Alembic, tests)."""

from mana.auth import models as auth_models
from mana.personas import models as persona_models

__all__ = ["auth_models", "persona_models"]
