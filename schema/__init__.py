"""The GraphQL surface: types, the root operations, the `Schema` object and its hardening."""

from __future__ import annotations

from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema import errors
from schema.extensions import IntrospectionGuard, Metrics
from schema.mutation import Mutation
from schema.person import Person
from schema.place import Building, Community, Compound, Grid, Household
from schema.query import Query
from schema.subscription import Subscription
from schema.vote import Vote

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 2_000


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
        types=[Community, Grid, Compound, Building, Household, Person, Vote],
        extensions=[
            # factories, not instances: each request gets its own extension state
            partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
            partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
            partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
            IntrospectionGuard,
            Metrics,
        ],
        config=StrawberryConfig(disable_field_suggestions=True),
    )


schema = build_schema()

__all__ = ["build_schema", "schema"]
