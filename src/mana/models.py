"""Import every model module so Base.metadata knows all tables (Alembic, tests)."""

from mana.auth import models as auth_models
from mana.budget import models as budget_models
from mana.findings import models as findings_models
from mana.kit import ratelimit as ratelimit_models
from mana.personas import models as persona_models
from mana.tools.registry import load_modules

# Product modules live one per file in mana.tools (tables and tools side by side); importing them
# all here is what puts the `app` schema tables on Base.metadata.
tool_modules = load_modules()

__all__ = [
    "auth_models",
    "budget_models",
    "findings_models",
    "persona_models",
    "ratelimit_models",
    "tool_modules",
]
