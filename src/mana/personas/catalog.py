"""The persona catalog: pydantic models, a loader that reports every problem at once, and its
JSON Schema.

The catalog is hand-edited, so the loader is written for the person editing it: one run lists
*all* mistakes, each as one line that names the entry by its email or space name
(`personas[3] (persona.kai@mana.test).moduleMix.todo: must be ≥ 0`), instead of stopping at
the first one with a pydantic traceback.

Which modules exist is decided by the tool registry, not here: this module checks structure only,
so the catalog can name a module before the tool server has it and the seed step reports it.

Regenerate the schema after changing the models: `python -m mana.personas.catalog --write-schema`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from mana.kit.schemas import Text
from mana.personas.contract import (
    DEFAULT_EMAIL_DOMAIN,
    EMAIL_DOMAIN,
    ModuleMix,
    PersonaEmail,
    PersonaName,
    Slug,
    SystemPrompt,
    TickCadence,
)

CATALOG_PATH = Path(__file__).with_name("catalog.json")
SCHEMA_PATH = Path(__file__).with_name("catalog.schema.json")

SpaceType = Literal["family", "team", "practice", "brand"]
VoiceStyle = Literal["terse", "rambling", "precise", "poetic", "typo-prone", "formal", "anxious"]

Line = Annotated[Text, Field(min_length=1, max_length=300)]
Paragraph = Annotated[Text, Field(min_length=1, max_length=2000)]


class _CatalogModel(BaseModel):
    """Shared config: camelCase in JSON, snake_case in Python, typos in field names are errors."""

    # strict: a hand-edited `"age": "20"` is a mistake to point out, not something to coerce.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )


class CatalogContact(_CatalogModel):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    note: Annotated[Text, Field(max_length=500)] = ""


class CatalogVoice(_CatalogModel):
    """Ready-made content in the persona's own voice, for the offline (scripted) brain."""

    style: VoiceStyle
    sample_todos: Annotated[list[Line], Field(min_length=1, max_length=50)]
    sample_notes: Annotated[list[Paragraph], Field(min_length=1, max_length=50)]
    sample_journal: Annotated[list[Paragraph], Field(min_length=1, max_length=50)]
    habits: Annotated[list[Line], Field(min_length=1, max_length=20)]
    contacts: Annotated[list[CatalogContact], Field(min_length=1, max_length=20)]
    events: Annotated[list[Line], Field(min_length=1, max_length=20)]


class CatalogPersona(_CatalogModel):
    """One persona. `age` and `voice` are optional (the original format has neither); a brain
    that needs a voice derives one from the rest."""

    # The rules shared with the admin API (email, archetype, prompt, module mix, cadence) are
    # the contract's own types: what validates here is accepted there.

    email: PersonaEmail
    name: PersonaName
    archetype: Annotated[Slug, Field(description="Lowercase slug, e.g. 'solo-dev'.")]
    # 13: the youngest age a real sign-up may have; personas should be plausible users.
    age: Annotated[int, Field(ge=13, le=120)] | None = None
    tick_cadence: TickCadence = "daily"
    locale: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"
    system_prompt: SystemPrompt
    voice: CatalogVoice | None = None
    module_mix: ModuleMix

    def unknown_modules(self, offered: set[str]) -> list[str]:
        """The modules of this persona's mix that the product does not offer (in mix order)."""
        return [module for module in self.module_mix if module not in offered]


class CatalogSpace(_CatalogModel):
    """A shared space between personas; the first member creates it and invites the others."""

    name: Annotated[Text, Field(min_length=1, max_length=100)]
    type: SpaceType
    members: Annotated[
        list[Annotated[Text, Field(min_length=1, max_length=254)]],
        Field(min_length=2, max_length=50, description="Persona emails; the first is the owner."),
    ]

    @property
    def owner(self) -> str:
        return self.members[0]


class Catalog(_CatalogModel):
    # `$schema` only points editors at catalog.schema.json; it carries no meaning for the loader.
    schema_ref: str | None = Field(default=None, alias="$schema")
    # Optional: the original format has no version; a catalog that names one must name 1.
    version: Literal[1] | None = None
    description: Annotated[Text, Field(max_length=2000)] | None = None
    personas: Annotated[list[CatalogPersona], Field(min_length=1, max_length=1000)]
    spaces: Annotated[list[CatalogSpace], Field(default_factory=list, max_length=200)]

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> Catalog:
        # load_catalog runs these checks on the raw JSON itself (so they are reported together
        # with field errors) and says so in the context; direct construction still gets them.
        if not (info.context or {}).get(_CROSS_CHECKED):
            errors = cross_reference_errors(self.model_dump(by_alias=True))
            if errors:
                raise ValueError("; ".join(errors))
        return self

    def by_email(self, email: str) -> CatalogPersona | None:
        wanted = email.strip().lower()
        return next((p for p in self.personas if p.email.lower() == wanted), None)

    @property
    def archetypes(self) -> set[str]:
        return {p.archetype for p in self.personas}

    @property
    def modules(self) -> set[str]:
        return {module for p in self.personas for module in p.module_mix}

    def module_warnings(self, offered: set[str]) -> list[str]:
        """One line per persona whose mix names modules the product does not offer: accepted
        (the catalog may run ahead of the product), and the brain spends that weight on the
        modules that do exist."""
        lines = []
        for i, persona in enumerate(self.personas):
            unknown = persona.unknown_modules(offered)
            if unknown:
                lines.append(
                    f"personas[{i}] ({persona.email}).moduleMix: not offered by the product "
                    f"(yet): {', '.join(unknown)}; their weight goes to the other modules"
                )
        return lines

    def summary(self) -> str:
        return (
            f"ok: {_count(len(self.personas), 'persona')}, "
            f"{_count(len(self.archetypes), 'archetype')}, "
            f"{_count(len(self.spaces), 'shared space')}"
        )


class CatalogError(Exception):
    """The catalog could not be loaded; `errors` holds one human-readable line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


_CROSS_CHECKED = "mana_cross_checked"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def load_catalog(path: Path | None = None, *, email_domain: str = DEFAULT_EMAIL_DOMAIN) -> Catalog:
    """Read and validate a catalog file (the shipped one by default).

    Raises CatalogError listing every problem found: field errors from pydantic and the
    cross-references (duplicate emails, unknown space members) are reported in one go.
    """
    source = CATALOG_PATH if path is None else path
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError([f"{source}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([f"{source}: cannot read: {exc}"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            [f"{source.name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from None

    errors: list[str] = []
    catalog: Catalog | None = None
    try:
        catalog = Catalog.model_validate(
            data, context={_CROSS_CHECKED: True, EMAIL_DOMAIN: email_domain}
        )
    except ValidationError as exc:
        errors.extend(_format_error(err, data, source.name) for err in exc.errors())
    errors.extend(cross_reference_errors(data))
    if errors or catalog is None:
        raise CatalogError(errors)
    return catalog


def cross_reference_errors(data: Any) -> list[str]:
    """Rules that span entries, checked on raw JSON so they work even when fields are broken.

    Anything of the wrong type is skipped here: the field validation reports it.
    """
    if not isinstance(data, Mapping):
        return []
    errors: list[str] = []

    first_index_of_email: dict[str, int] = {}
    for i, persona in _entries(data.get("personas")):
        email = persona.get("email")
        if not isinstance(email, str):
            continue
        key = email.strip().lower()
        if key in first_index_of_email:
            errors.append(
                f"{_where('personas', i, data)}.email: "
                f"duplicate of personas[{first_index_of_email[key]}]"
            )
        else:
            first_index_of_email[key] = i

    first_index_of_space: dict[str, int] = {}
    for i, space in _entries(data.get("spaces")):
        where = _where("spaces", i, data)
        name = space.get("name")
        if isinstance(name, str):
            # The spaces command finds an already-created space by name, so names must be unique.
            key = name.strip().lower()
            if key in first_index_of_space:
                errors.append(f"{where}.name: duplicate of spaces[{first_index_of_space[key]}]")
            else:
                first_index_of_space[key] = i
        members = space.get("members")
        if not isinstance(members, list):
            continue
        first_index_of_member: dict[str, int] = {}
        for j, member in enumerate(members):
            if not isinstance(member, str):
                continue
            key = member.strip().lower()
            if key in first_index_of_member:
                errors.append(
                    f"{where}.members[{j}]: duplicate of members[{first_index_of_member[key]}]"
                )
                continue
            first_index_of_member[key] = j
            if key not in first_index_of_email:
                errors.append(f"{where}.members[{j}]: {member} is not in the catalog")
    return errors


def _entries(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _where(section: str, index: int, data: Any) -> str:
    """`personas[3] (persona.kai@mana.test)`: the label makes the line findable in the file."""
    label_field = {"personas": "email", "spaces": "name"}.get(section)
    label = None
    if isinstance(data, Mapping) and label_field is not None:
        items = data.get(section)
        if (
            isinstance(items, list)
            and 0 <= index < len(items)
            and isinstance(items[index], Mapping)
        ):
            candidate = items[index].get(label_field)
            if isinstance(candidate, str) and candidate.strip():
                label = candidate
    return f"{section}[{index}]" + (f" ({label})" if label else "")


def _format_error(err: ErrorDetails, data: Any, file_name: str) -> str:
    loc = err["loc"]
    path = ""
    for n, part in enumerate(loc):
        if isinstance(part, int):
            if n == 1 and isinstance(loc[0], str):
                path = _where(loc[0], part, data)
            else:
                path += f"[{part}]"
        elif part == "[key]":
            # pydantic marks errors in a dict *key* (not its value) with this pseudo-segment.
            path += " (key)"
        else:
            path += f".{part}" if path else str(part)
    return f"{path or file_name}: {_message(err)}"


def _message(err: ErrorDetails) -> str:
    """Short, uniform messages instead of pydantic's `Input should be ...` sentences."""
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    match kind:
        case "missing":
            return "is required"
        case "extra_forbidden":
            return "is not a known field"
        case "greater_than_equal":
            return f"must be ≥ {_number(ctx['ge'])}"
        case "less_than_equal":
            return f"must be ≤ {_number(ctx['le'])}"
        # A length limit on a validated str (Text) is reported as the generic too_short/too_long,
        # so strings and lists are told apart by the input, not by the error type.
        case "string_too_short" | "too_short" if ctx.get("min_length") == 1:
            return "must not be empty"
        case "string_too_short" | "too_short" if isinstance(err["input"], str):
            return f"must be at least {ctx['min_length']} characters"
        case "string_too_long" | "too_long" if isinstance(err["input"], str):
            return f"must be at most {ctx['max_length']} characters"
        case "too_short":
            return f"must have at least {ctx['min_length']} entries (has {ctx['actual_length']})"
        case "too_long":
            return f"must have at most {ctx['max_length']} entries"
        case "string_pattern_mismatch":
            return f"must match {ctx['pattern']} (got {err['input']!r})"
        case "model_type" | "dict_type":
            return "must be a JSON object"
        case "list_type":
            return "must be a JSON array"
        case "string_type":
            return "must be a string"
        case "int_type" | "int_from_float":
            return "must be an integer"
        case "float_type":
            return "must be a number"
        case "literal_error":
            return f"must be {ctx['expected']} (got {err['input']!r})"
        case "value_error":
            return err["msg"].removeprefix("Value error, ")
        case _:
            msg = err["msg"]
            return msg[:1].lower() + msg[1:]


def _number(value: Any) -> Any:
    """`0`, not `0.0`: a float bound on a weight reads like an integer in the catalog."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def catalog_json_schema() -> dict[str, Any]:
    """JSON Schema of catalog.json as editors read it (camelCase names, draft 2020-12)."""
    schema = Catalog.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Mana persona catalog",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def render_catalog_json_schema() -> str:
    """The exact text of the checked-in catalog.schema.json."""
    return json.dumps(catalog_json_schema(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mana.personas.catalog",
        description="Validate a persona catalog, or regenerate catalog.schema.json.",
    )
    parser.add_argument("path", nargs="?", type=Path, help="catalog file (default: shipped)")
    parser.add_argument("--write-schema", action="store_true", help=f"rewrite {SCHEMA_PATH.name}")
    args = parser.parse_args(argv)
    if args.write_schema:
        SCHEMA_PATH.write_text(render_catalog_json_schema(), encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
        return 0
    try:
        catalog = load_catalog(args.path)
    except CatalogError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    print(catalog.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
