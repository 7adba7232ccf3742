"""The GraphQL surface: types, the root operations, the `Schema` object and its hardening."""

from __future__ import annotations

from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as alias_limit
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema import errors
from schema.extensions import IntrospectionGuard, Metrics
from schema.mutation import Mutation
from schema.person import Person
from schema.place import Building, Community, Compound, Grid, Household
from schema.query import Query
from schema.subscription import Subscription
from schema.task import Task, TaskEvent
from schema.vote import Vote

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 2_000
#: The depth and alias limits as validation rules built once, so that the validation cache (keyed
#: by document and rules) can hit; each request still gets its own extension objects.
LIMIT_RULES = (depth_limit(MAX_DEPTH, None), alias_limit(MAX_ALIASES))


class QilijiaSchema(strawberry.Schema):
    def process_errors(
        self, errors_: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        errors.rewrite(errors_)


def build_schema() -> QilijiaSchema:
    return QilijiaSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Community, Grid, Compound, Building, Household, Person, Vote, Task, TaskEvent],
        extensions=[
            # factories, not instances: each request gets its own extension state
            partial(AddValidationRules, list(LIMIT_RULES)),
            partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
            # a mini-program sends the same few documents all day: parse and validate each once
            partial(ParserCache, maxsize=512),
            partial(ValidationCache, maxsize=512),
            IntrospectionGuard,  # after the validation cache, whose result it extends
            Metrics,
        ],
        config=StrawberryConfig(disable_field_suggestions=True),
    )


schema = build_schema()

__all__ = ["build_schema", "schema"]
