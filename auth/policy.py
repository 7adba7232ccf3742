"""The access policy: DESIGN §5 as one deny-by-default table.

A decision is made in two steps, both pure:

1. `relations(principal, place, subject)` says how the caller stands to the place an object lives in
   (a resident of its compound, the grid worker of its grid, the convener of its building, …) and,
   for a person shown there, to that person (themself, an owner, a fellow Party member).
2. `POLICY[(resource, action)]` lists the relations that grant the action. Nothing else does.

List queries use the same table through `scope_clause`, which turns each granting relation into a
SQL condition over the place columns of the rows being listed, so the single-object check and the
list filter cannot drift apart. A relation's `RELATION_SCOPE` names the place kind it is measured
on; both the pure check and the SQL clause read it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from auth.principal import AnonymousPrincipal, ApiClientPrincipal, PersonPrincipal, Principal
from models.enums import HomeRelation, Role
from models.errors import ForbiddenError, UnauthenticatedError
from models.place import Compound


class Rel(StrEnum):
    """How a caller stands to a place (and to a person shown there)."""

    ADMIN = "ADMIN"
    API_CLIENT = "API_CLIENT"
    RESIDENT = "RESIDENT"  # has a home (owner or tenant) in the compound
    HOUSEHOLD_MEMBER = "HOUSEHOLD_MEMBER"  # has a home in that very household
    PARTY_MEMBER = "PARTY_MEMBER"
    GRID_WORKER = "GRID_WORKER"
    COMMUNITY_COMMITTEE = "COMMUNITY_COMMITTEE"
    PROPERTY_STAFF = "PROPERTY_STAFF"
    OWNERS_COMMITTEE = "OWNERS_COMMITTEE"
    TEAM_MEMBER = "TEAM_MEMBER"  # holds any team position in the compound
    TEAM_CORE = "TEAM_CORE"  # chief or deputy convener, or committee member, of the compound
    BUILDING_CONVENER = "BUILDING_CONVENER"  # convener of the place's building
    # relations to a person shown at the place
    SELF = "SELF"
    OWNERS_COMMITTEE_ON_OWNER = "OWNERS_COMMITTEE_ON_OWNER"  # owners' committee looking at an owner
    PARTY_GROUP = "PARTY_GROUP"  # a Party member looking at a fellow Party member of the compound
    STAFF_ON_RESIDENT = "STAFF_ON_RESIDENT"  # property staff looking at a resident of their compound
    COMMITTEE_ON_MEMBER = "COMMITTEE_ON_MEMBER"  # community committee: a Party member registered here
    GRID_ON_MEMBER = "GRID_ON_MEMBER"  # the grid worker: a Party member registered in the grid
    # relations only the object itself can tell (its resolver supplies them as facts)
    ELIGIBLE_OWNER = "ELIGIBLE_OWNER"  # owns a household in the vote's frozen electorate
    REPORTER = "REPORTER"  # reported the task
    ASSIGNEE = "ASSIGNEE"  # assigned the task, in its working group, or holds the role it is assigned to
    DISPUTE_PARTY = "DISPUTE_PARTY"
    MEDIATOR = "MEDIATOR"


#: The place kind on which a place relation is measured (None: holds everywhere).
RELATION_SCOPE: dict[Rel, str | None] = {
    Rel.ADMIN: None,
    Rel.API_CLIENT: None,
    Rel.RESIDENT: "compound",
    Rel.HOUSEHOLD_MEMBER: "household",
    Rel.PARTY_MEMBER: "compound",
    Rel.GRID_WORKER: "grid",
    Rel.COMMUNITY_COMMITTEE: "community",
    Rel.PROPERTY_STAFF: "compound",
    Rel.OWNERS_COMMITTEE: "compound",
    Rel.TEAM_MEMBER: "compound",
    Rel.TEAM_CORE: "compound",
    Rel.BUILDING_CONVENER: "building",
}


@dataclass(frozen=True)
class Place:
    """Where an object lives. Every domain row can say this much about itself."""

    community_id: uuid.UUID
    grid_id: uuid.UUID
    compound_id: uuid.UUID | None = None
    building_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Subject:
    """A person shown at a place: what the place says about them (their home there, Party role)."""

    person_id: uuid.UUID
    is_owner_here: bool = False
    is_party_member_here: bool = False
    lives_here: bool = False


# --- the table -----------------------------------------------------------------------------------

_PLACE_TREE = frozenset(
    {
        Rel.ADMIN,
        Rel.API_CLIENT,
        Rel.RESIDENT,
        Rel.PARTY_MEMBER,
        Rel.GRID_WORKER,
        Rel.COMMUNITY_COMMITTEE,
        Rel.PROPERTY_STAFF,
        Rel.OWNERS_COMMITTEE,
        Rel.TEAM_MEMBER,
    }
)
_HOUSEHOLDS = frozenset(
    {
        Rel.ADMIN,
        Rel.HOUSEHOLD_MEMBER,
        Rel.BUILDING_CONVENER,
        Rel.GRID_WORKER,
        Rel.COMMUNITY_COMMITTEE,
        Rel.PROPERTY_STAFF,
        Rel.OWNERS_COMMITTEE,
    }
)

_TASK_TEAM = frozenset({Rel.TEAM_CORE, Rel.BUILDING_CONVENER, Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE})
_TASK_READERS = frozenset(
    {
        Rel.RESIDENT,
        Rel.PARTY_MEMBER,
        Rel.TEAM_MEMBER,
        Rel.GRID_WORKER,
        Rel.COMMUNITY_COMMITTEE,
        Rel.PROPERTY_STAFF,
        Rel.OWNERS_COMMITTEE,
        Rel.REPORTER,
        Rel.ASSIGNEE,
    }
)

POLICY: Mapping[tuple[str, str], frozenset[Rel]] = {
    # place tree, compound profile, public stats (third parties: aggregates only)
    ("compound", "read"): _PLACE_TREE,
    ("building", "read"): _PLACE_TREE,
    ("compound.stats", "read"): _PLACE_TREE,
    # Party aggregates: the registration rate is public; the head counts stay with those who work
    # with the compound's Party members
    ("party.stats", "read_counts"): frozenset(
        {Rel.PARTY_MEMBER, Rel.TEAM_MEMBER, Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE, Rel.ADMIN}
    ),
    ("compound.team", "read"): _PLACE_TREE - {Rel.API_CLIENT},
    # households: number, floor, area, and who lives there
    ("household", "read"): _HOUSEHOLDS,
    # a person's fields, by how the caller stands to the place and to the person
    ("person.name", "read_full"): frozenset(
        {
            Rel.ADMIN,
            Rel.SELF,
            Rel.GRID_WORKER,
            Rel.COMMUNITY_COMMITTEE,
            Rel.STAFF_ON_RESIDENT,
            Rel.OWNERS_COMMITTEE_ON_OWNER,
            Rel.PARTY_GROUP,
        }
    ),
    ("person.phone", "read_full"): frozenset(
        {Rel.ADMIN, Rel.SELF, Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE, Rel.STAFF_ON_RESIDENT}
    ),
    ("person.phone", "read_masked"): frozenset({Rel.OWNERS_COMMITTEE_ON_OWNER}),
    # Party data is sensitive: the member, the community committee; the grid sees status only
    # (judged by the member's own registration with this compound, not by where they are shown)
    ("party", "read_full"): frozenset({Rel.SELF, Rel.COMMITTEE_ON_MEMBER}),
    ("party", "read_status"): frozenset({Rel.SELF, Rel.COMMITTEE_ON_MEMBER, Rel.GRID_ON_MEMBER, Rel.ADMIN}),
    # in `prod`, schema introspection is for operators only
    ("schema", "introspect"): frozenset({Rel.ADMIN}),
    # owner votes (DESIGN §4, §5): nobody but a household's own owners ever sees its choice
    ("vote", "open"): frozenset({Rel.OWNERS_COMMITTEE, Rel.COMMUNITY_COMMITTEE}),
    ("vote", "close"): frozenset({Rel.OWNERS_COMMITTEE, Rel.COMMUNITY_COMMITTEE}),
    ("vote", "cast"): frozenset({Rel.ELIGIBLE_OWNER}),
    # an open vote and its live tally: eligible owners and the team
    ("vote", "read_open"): frozenset(
        {Rel.ELIGIBLE_OWNER, Rel.TEAM_MEMBER, Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE, Rel.OWNERS_COMMITTEE}
    ),
    # a closed vote's result and final tally: the compound, and third parties as public aggregates
    ("vote", "read_closed"): _PLACE_TREE | {Rel.ELIGIBLE_OWNER},
    # the frozen electorate (numbers, areas, head groups; no names) and who has not voted yet
    ("vote.electorate", "read"): frozenset(
        {Rel.TEAM_MEMBER, Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE, Rel.OWNERS_COMMITTEE}
    ),
    ("vote.turnout", "read"): frozenset(
        {Rel.BUILDING_CONVENER, Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE, Rel.OWNERS_COMMITTEE}
    ),
    # tasks (DESIGN §3, §5): public ISSUE/PROJECT tasks are the compound's; internal ones the team's
    ("task", "read_public"): _TASK_READERS,
    ("task", "read_internal"): _TASK_TEAM
    | {Rel.OWNERS_COMMITTEE, Rel.PROPERTY_STAFF, Rel.REPORTER, Rel.ASSIGNEE},
    # disputes are private: their parties and mediators, the grid and community, an assignee
    ("dispute", "read"): frozenset(
        {
            Rel.DISPUTE_PARTY,
            Rel.MEDIATOR,
            Rel.REPORTER,
            Rel.ASSIGNEE,
            Rel.GRID_WORKER,
            Rel.COMMUNITY_COMMITTEE,
        }
    ),
    ("task", "report"): _TASK_READERS - {Rel.REPORTER, Rel.ASSIGNEE},
    ("task", "create_project"): _TASK_TEAM | {Rel.OWNERS_COMMITTEE},
    # the team triages (accept, reject, assign, meetings, volunteer calls, disclosures)
    ("task", "triage"): _TASK_TEAM,
    # whoever works it: the team, or the people and role it is assigned to
    ("task", "work"): _TASK_TEAM | {Rel.ASSIGNEE},
    ("dispute", "record_outcome"): frozenset({Rel.MEDIATOR, Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE}),
    # who names a dispute's mediators: the grid and the community, not a mediator
    ("dispute", "assign_mediator"): frozenset({Rel.GRID_WORKER, Rel.COMMUNITY_COMMITTEE}),
    ("volunteer_call", "sign_up"): frozenset({Rel.RESIDENT}),
    # third parties: counts only
    ("task.stats", "read"): _PLACE_TREE,
}


# --- deciding --------------------------------------------------------------------------------------


def _place_ids(principal: PersonPrincipal, rel: Rel) -> frozenset[uuid.UUID]:
    """The ids, of the kind `RELATION_SCOPE[rel]`, at which the principal holds `rel`."""
    return principal.memo(rel, lambda: _compute_place_ids(principal, rel))


def _compute_place_ids(principal: PersonPrincipal, rel: Rel) -> frozenset[uuid.UUID]:
    match rel:
        case Rel.RESIDENT:
            return principal.home_ids(kind="compound")
        case Rel.HOUSEHOLD_MEMBER:
            return principal.home_ids(kind="household")
        case Rel.PARTY_MEMBER:
            return principal.role_places(Role.PARTY_MEMBER)
        case Rel.GRID_WORKER:
            return principal.role_places(Role.GRID_WORKER)
        case Rel.COMMUNITY_COMMITTEE:
            return principal.role_places(Role.COMMUNITY_COMMITTEE)
        case Rel.PROPERTY_STAFF:
            return principal.role_places(Role.PROPERTY_STAFF)
        case Rel.OWNERS_COMMITTEE:
            return principal.role_places(Role.OWNERS_COMMITTEE)
        case Rel.TEAM_MEMBER:
            return principal.position_compounds()
        case Rel.TEAM_CORE:
            return principal.position_compounds(core_only=True)
        case Rel.BUILDING_CONVENER:
            return principal.convened_buildings()
    return frozenset()


def relations(
    principal: Principal,
    place: Place | None,
    subject: Subject | None = None,
    facts: frozenset[Rel] = frozenset(),
) -> frozenset[Rel]:
    """How `principal` stands to `place` and, if given, to the person `subject` shown there.

    `facts` are relations only the object can tell (an owner in a vote's frozen electorate); the
    resolver establishes them from the database and the table still decides what they grant.
    """
    if isinstance(principal, ApiClientPrincipal):
        return frozenset({Rel.API_CLIENT})
    if not isinstance(principal, PersonPrincipal):
        return frozenset()
    held: set[Rel] = set(facts)
    if principal.is_admin:
        held.add(Rel.ADMIN)
    if place is not None:
        for rel, kind in RELATION_SCOPE.items():
            if kind is None:
                continue
            place_id = getattr(place, f"{kind}_id")
            if place_id is not None and place_id in _place_ids(principal, rel):
                held.add(rel)
    if subject is not None:
        if subject.person_id == principal.person_id:
            held.add(Rel.SELF)
        if Rel.OWNERS_COMMITTEE in held and subject.is_owner_here:
            held.add(Rel.OWNERS_COMMITTEE_ON_OWNER)
        if Rel.PARTY_MEMBER in held and subject.is_party_member_here:
            held.add(Rel.PARTY_GROUP)
        if Rel.PROPERTY_STAFF in held and subject.lives_here:
            held.add(Rel.STAFF_ON_RESIDENT)
        if Rel.COMMUNITY_COMMITTEE in held and subject.is_party_member_here:
            held.add(Rel.COMMITTEE_ON_MEMBER)
        if Rel.GRID_WORKER in held and subject.is_party_member_here:
            held.add(Rel.GRID_ON_MEMBER)
    return frozenset(held)


def can(
    principal: Principal,
    resource: str,
    action: str,
    place: Place | None = None,
    subject: Subject | None = None,
    facts: frozenset[Rel] = frozenset(),
) -> bool:
    granted = POLICY.get((resource, action))
    if granted is None:
        return False
    return not granted.isdisjoint(relations(principal, place, subject, facts))


def require(
    principal: Principal,
    resource: str,
    action: str,
    place: Place | None = None,
    subject: Subject | None = None,
    facts: frozenset[Rel] = frozenset(),
    message: str = "",
) -> None:
    """Raise the one error a denial answers, whether or not the object exists.

    `message` may say more only where the caller already may see the object (its vote, its
    compound); otherwise the single not-visible sentence keeps existence secret.
    """
    if not can(principal, resource, action, place, subject, facts):
        raise ForbiddenError(message or NOT_VISIBLE)


def require_person(principal: Principal) -> PersonPrincipal:
    if isinstance(principal, PersonPrincipal):
        return principal
    if isinstance(principal, AnonymousPrincipal):
        raise UnauthenticatedError()
    raise ForbiddenError("第三方接口只能读取公开的统计数据。")


def require_authenticated(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise UnauthenticatedError()


NOT_VISIBLE = "该内容不存在，或您没有查看权限。"


# --- the same table as SQL ----------------------------------------------------------------------


def scope_clause(principal: Principal, resource: str, action: str, columns: Mapping[str, Any]) -> Any:
    """A SQL condition true exactly for the rows whose place grants `action` to `principal`.

    `columns` maps place kinds (`compound`, `building`, `household`, and optionally `grid`,
    `community`) to the columns of the rows being listed. Grid and community conditions fall back to
    a sub-select over `compound` when the rows carry only their compound key.
    """
    granted = POLICY.get((resource, action), frozenset())
    if isinstance(principal, ApiClientPrincipal):
        return sa.true() if Rel.API_CLIENT in granted else sa.false()
    if not isinstance(principal, PersonPrincipal):
        return sa.false()
    if principal.is_admin and Rel.ADMIN in granted:
        return sa.true()
    conditions = []
    for rel in sorted(granted):
        kind = RELATION_SCOPE.get(rel)
        if kind is None:
            continue
        ids = _place_ids(principal, rel)
        if not ids:
            continue
        if kind in columns:
            conditions.append(columns[kind].in_(sorted(ids)))
        elif kind in ("grid", "community") and "compound" in columns:
            by = Compound.grid_id if kind == "grid" else Compound.community_id
            conditions.append(columns["compound"].in_(sa.select(Compound.id).where(by.in_(sorted(ids)))))
        else:
            raise ValueError(f"{resource}:{action} needs a {kind} column to filter by {rel}")
    return sa.or_(*conditions) if conditions else sa.false()


def person_name_level(principal: Principal, place: Place | None, subject: Subject) -> str:
    """`full` or `masked`: everyone who may see a person at a place sees at least the masked name."""
    return "full" if can(principal, "person.name", "read_full", place, subject) else "masked"


def person_phone_level(principal: Principal, place: Place | None, subject: Subject) -> str | None:
    if can(principal, "person.phone", "read_full", place, subject):
        return "full"
    if can(principal, "person.phone", "read_masked", place, subject):
        return "masked"
    return None


def party_level(principal: Principal, place: Place | None, subject: Subject) -> str | None:
    if can(principal, "party", "read_full", place, subject):
        return "full"
    if can(principal, "party", "read_status", place, subject):
        return "status"
    return None


__all__ = [
    "NOT_VISIBLE",
    "POLICY",
    "RELATION_SCOPE",
    "HomeRelation",
    "Place",
    "Rel",
    "Subject",
    "can",
    "party_level",
    "person_name_level",
    "person_phone_level",
    "relations",
    "require",
    "require_authenticated",
    "require_person",
    "scope_clause",
]
