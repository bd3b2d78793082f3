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
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

CATALOG_PATH = Path(__file__).with_name("catalog.json")
SCHEMA_PATH = Path(__file__).with_name("catalog.schema.json")
DEFAULT_EMAIL_DOMAIN = "mana.test"

TickCadence = Literal["daily", "weekdays", "hourly"]
SpaceType = Literal["family", "team", "practice", "brand"]
VoiceStyle = Literal["terse", "rambling", "precise", "poetic", "typo-prone", "formal", "anxious"]

_SLUG = re.compile(r"[a-z0-9-]+")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps the seed step from failing halfway.
    if "\x00" in value:
        raise PydanticCustomError("nul_byte", "must not contain NUL bytes")
    return value


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise PydanticCustomError(
            "slug", "must be a slug of a-z, 0-9 and '-' (got {value})", {"value": repr(value)}
        )
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
# The pattern goes to the JSON Schema only (for editors); the loader checks it in `_slug` so the
# message can say what a slug is instead of printing a regular expression.
Slug = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra={"pattern": "^[a-z0-9-]+$"}),
    AfterValidator(_slug),
]
Line = Annotated[Text, Field(min_length=1, max_length=300)]
Paragraph = Annotated[Text, Field(min_length=1, max_length=2000)]
# NaN/inf would make the weighted draw of modules meaningless, and JSON parsers in Python accept
# `NaN` and `Infinity` literals, so they are refused explicitly.
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


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
    email: Annotated[
        Text,
        Field(
            max_length=254,
            description="Must end with @mana.test: a reserved TLD, so no mail ever bounces.",
            json_schema_extra={"format": "email"},
        ),
    ]
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    archetype: Annotated[Slug, Field(description="Lowercase slug, e.g. 'solo-dev'.")]
    # 13: the youngest age a real sign-up may have; personas should be plausible users.
    age: Annotated[int, Field(ge=13, le=120)]
    tick_cadence: TickCadence = "daily"
    locale: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"
    system_prompt: Annotated[
        Text,
        Field(
            min_length=20,
            max_length=8000,
            description="Second-person role-play prompt for LLM brains.",
        ),
    ]
    voice: CatalogVoice
    module_mix: Annotated[
        dict[Slug, Weight],
        Field(
            min_length=1,
            max_length=50,
            description="Module → relative weight of the persona's attention.",
        ),
    ]

    @field_validator("email")
    @classmethod
    def _email_in_domain(cls, value: str, info: ValidationInfo) -> str:
        domain = _email_domain(info)
        try:
            # test_environment: `.test` is a special-use TLD that email-validator (and therefore
            # pydantic's EmailStr) refuses by default; it is exactly the TLD we want.
            validate_email(value, check_deliverability=False, test_environment=True)
        except EmailNotValidError as exc:
            raise PydanticCustomError(
                "email", "is not a valid email address: {reason}", {"reason": str(exc)}
            ) from None
        if not value.lower().endswith("@" + domain.lower()):
            raise PydanticCustomError("email_domain", "must end with @{domain}", {"domain": domain})
        return value

    @field_validator("module_mix")
    @classmethod
    def _positive_total(cls, value: dict[str, float]) -> dict[str, float]:
        # All-zero weights leave the runner nothing to draw from; an empty mix is reported by
        # min_length already, so only a non-empty mix gets here with a zero sum.
        if value and sum(value.values()) <= 0:
            raise PydanticCustomError("zero_sum", "weights must add up to more than 0")
        return value


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
    version: Literal[1]
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
_EMAIL_DOMAIN = "mana_email_domain"


def _email_domain(info: ValidationInfo) -> str:
    context = info.context or {}
    domain = context.get(_EMAIL_DOMAIN, DEFAULT_EMAIL_DOMAIN)
    return str(domain)


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
            data, context={_CROSS_CHECKED: True, _EMAIL_DOMAIN: email_domain}
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
