"""What the policy knows about an object, as plain data: one frozen dataclass per kind of object.

These are the `facts` of `auth.rules.Cond.holds`. A mutation reads them from the row it locks
(`auth.bindings.facts_query` derives that read from the same binding its SQL filter uses); tests
build them by hand. Attribute names are those the rules use, and the same as the binding's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, kw_only=True)
class PlaceFacts:
    """Where an object lives. Every domain row can say this much about itself."""

    community_id: uuid.UUID | None = None
    grid_id: uuid.UUID | None = None
    compound_id: uuid.UUID | None = None
    building_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None


@dataclass(frozen=True, kw_only=True)
class AreaFacts(PlaceFacts):
    """A grid or a community, with the compounds in it."""

    compounds: tuple[PlaceFacts, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RegionFacts(PlaceFacts):
    """A district or a street, with the communities in it."""

    communities: tuple[AreaFacts, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TaskFacts(PlaceFacts):
    """A task (and everything shown with it: its timeline, meetings, calls, disclosures)."""

    kind: str
    visibility: str
    status: str
    reporter_id: uuid.UUID | None = None
    #: the role the task is assigned to, if any (`models.enums.Role`)
    assigned_role: str | None = None
    #: assignees and their working group
    workers: frozenset[uuid.UUID] = frozenset()
    #: a dispute's parties and mediators
    parties: frozenset[uuid.UUID] = frozenset()
    mediators: frozenset[uuid.UUID] = frozenset()
    #: its text waits for review (HELD) or was removed (REMOVED); None: shown
    review_hold: str | None = None


@dataclass(frozen=True, kw_only=True)
class VoteFacts(PlaceFacts):
    status: str
    #: who owned a household of the frozen electorate when the vote opened
    owners: frozenset[uuid.UUID] = frozenset()
    #: who holds a checked written proxy of one of those owners that may be used in the vote
    proxies: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, kw_only=True)
class ElectorFacts(PlaceFacts):
    """One household of a vote's frozen electorate."""

    owners: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, kw_only=True)
class ClaimFacts(PlaceFacts):
    """A resident's claim to a home: where the household is, and who claims it."""

    person_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class EvaluationFacts(PlaceFacts):
    """A Party member's evaluation: where they were registered, whose it is, whether confirmed."""

    person_id: uuid.UUID
    status: str


@dataclass(frozen=True, kw_only=True)
class NoticeFacts(PlaceFacts):
    """A notice: who posted it, whether it is out yet, and the places it reaches (a community
    notice has no compound: it reaches every compound of its community)."""

    author_id: uuid.UUID
    #: its publication time has come (it may since have expired or been withdrawn)
    published: bool
    #: it reaches whole compounds, not only some of their buildings
    whole: bool
    #: posted to a compound (or some of its buildings), not to a whole community
    in_compound: bool
    #: taken down (kept for its editors)
    withdrawn: bool
    compounds: tuple[PlaceFacts, ...] = ()
    #: the buildings it is posted to, when not whole
    buildings: tuple[PlaceFacts, ...] = ()


class Tie(StrEnum):
    """How a person is tied to a place: a home there, or a role or team position held there."""

    OWNER = "OWNER"
    TENANT = "TENANT"
    PARTY_MEMBER = "PARTY_MEMBER"
    PROPERTY_STAFF = "PROPERTY_STAFF"
    OWNERS_COMMITTEE = "OWNERS_COMMITTEE"
    GRID_WORKER = "GRID_WORKER"
    COMMUNITY_COMMITTEE = "COMMUNITY_COMMITTEE"
    POSITION = "POSITION"


@dataclass(frozen=True, kw_only=True)
class TieFacts(PlaceFacts):
    """One tie of a person, at the level it is held (a grid role has no compound)."""

    kind: Tie


@dataclass(frozen=True, kw_only=True)
class PersonFacts:
    """A person: their own ties (which decide how much of them a caller sees) and every place they
    are shown (which decides whether a caller sees them at all)."""

    person_id: uuid.UUID
    ties: tuple[TieFacts, ...] = ()
    #: the households they live in or own
    homes: tuple[PlaceFacts, ...] = ()
    #: the compounds whose team they sit on
    seats: tuple[PlaceFacts, ...] = ()
    #: the tasks they appear on: reported, attached to (assignee, party, mediator), acted on in the
    #: timeline, or attended a meeting of
    tasks: tuple[TaskFacts, ...] = ()
    #: the tasks whose volunteer calls they signed up for (shown on the organisers' roster)
    volunteered: tuple[TaskFacts, ...] = ()
    #: the Party building groups they belong to (registered from a building of the group)
    groups: tuple[PlaceFacts, ...] = ()


NO_FACTS = PlaceFacts()
