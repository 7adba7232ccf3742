"""Cost disclosures (公示) as GraphQL types."""

from __future__ import annotations

import strawberry

from models import Task as TaskRow


@strawberry.type
class DisclosureMutations:
    """Mutations about cost disclosures; merged into the root `Mutation`."""


async def task_disclosures(info: strawberry.Info, task: TaskRow) -> list[object]:
    """Every published version of the task's disclosures (placeholder until disclosures land)."""
    return []
