"""Meetings (专题会议), dispute outcomes and statistics as GraphQL types."""

from __future__ import annotations

import strawberry


@strawberry.type
class MeetingMutations:
    """Mutations about meetings and dispute outcomes; merged into the root `Mutation`."""
