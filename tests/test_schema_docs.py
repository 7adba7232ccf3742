"""The schema documents itself: every type, field, argument and enum value has a description."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from schema import schema


def undocumented() -> list[str]:
    missing = []
    for name, kind in sorted(schema._schema.type_map.items()):
        if name.startswith("__") or name in ("String", "Boolean", "Int", "Float", "ID"):
            continue
        if not (kind.description or "").strip():
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, f in kind.fields.items():
                if not (f.description or "").strip():
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(f, "args", {}).items():
                    if not (arg.description or "").strip():
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(kind, GraphQLEnumType):
            for value_name, value in kind.values.items():
                if not (value.description or "").strip():
                    missing.append(f"{name}.{value_name}")
    return missing


def test_everything_in_the_schema_is_described() -> None:
    assert undocumented() == []


def test_the_check_sees_what_it_checks() -> None:
    """Guards the test against seeing nothing: the schema it walks is the real one."""
    assert "Vote" in schema._schema.type_map
    assert "closesAt" in schema._schema.type_map["Vote"].fields
