"""Statuses every operation of a service can answer, written into its OpenAPI document.

Some answers do not come from a route: a body that is not JSON at all is refused with 400
before any route runs. A schema fuzzer checks that every status an operation answers is one it
documents, so these are added to every operation they apply to, in one place, instead of to
each route's `responses=`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

MALFORMED_BODY = "The body is not valid JSON (or not in the declared content type)"
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def document_common_statuses(app: FastAPI) -> None:
    """Make `app.openapi()` add 400 (malformed body) to every operation that takes a body."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = (
            ERROR_BODY_SCHEMA
        )
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                if method in _METHODS and "requestBody" in operation:
                    operation.setdefault("responses", {}).setdefault(
                        "400",
                        {
                            "description": MALFORMED_BODY,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorBody"}
                                }
                            },
                        },
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
