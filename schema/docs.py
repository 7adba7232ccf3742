"""GraphQL enums with a description for the type and for every value (the schema documents itself:
a test fails on anything undocumented, and an enum missing a value's description fails here)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import strawberry


def enum(
    python_enum: type[Enum], description: str, values: Mapping[str, str], *, name: str | None = None
) -> Any:
    """The GraphQL enum of `python_enum` (a `models` enum: the API names are its member names)."""
    missing = {member.name for member in python_enum} ^ set(values)
    if missing:
        raise AssertionError(
            f"{python_enum.__name__}: values described and values defined differ: {sorted(missing)}"
        )
    graphql = strawberry.enum(python_enum, name=name, description=description)
    for value in graphql.__strawberry_definition__.values:
        value.description = values[value.name]
    return graphql
