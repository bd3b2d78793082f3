from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mana.mcp.gateway import describe_validation_error


class Item(BaseModel):
    name: str = Field(min_length=1)


class Many(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item]


def message_for(model: type[BaseModel], data: object) -> str:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return describe_validation_error(exc)
    raise AssertionError("expected a validation error")


def test_nested_fields_are_named_by_their_path() -> None:
    message = message_for(Many, {"items": [{"name": "ok"}, {"name": ""}]})
    assert message == "invalid arguments: items[1].name: String should have at least 1 character"


def test_a_flood_of_errors_gives_a_short_answer() -> None:
    message = message_for(Many, {"items": [{"name": ""}] * 50})
    assert message.count("String should have at least 1 character") == 10
    assert message.endswith("; and 40 more")


def test_the_arguments_as_a_whole_are_named_when_no_field_is_at_fault() -> None:
    assert message_for(Many, []).startswith("invalid arguments: arguments: ")
