"""Small generated worlds for the policy's tests: people, homes, roles, positions, tasks, votes.

A world is plain data. `insert` writes it to PostgreSQL; `facts` derives each object's policy facts
from the same data in Python, independently of `auth.bindings`, so that comparing the policy's SQL
filter with its pure check over a world tests the bindings too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.facts import (
    AreaFacts,
    ClaimFacts,
    ElectorFacts,
    EvaluationFacts,
    NoticeFacts,
    PersonFacts,
    PlaceFacts,
    RegionFacts,
    TaskFacts,
    Tie,
    TieFacts,
    VoteFacts,
)
from auth.principal import HomeGrant, PersonPrincipal, PositionGrant, RoleGrant
from models.claim import ClaimStatus, HomeClaim
from models.enums import ROLE_SCOPE, HomeRelation, Position, Role
from models.evaluation import EvaluationStatus, PartyEvaluation
from models.meeting import Meeting, MeetingAttendee
from models.notice import Notice
from models.party import PartyGroup, PartyGroupBuilding, PartyProfile, PartyRegistration, RegistrationStatus
from models.person import Home, Person, RoleAssignment, TeamPosition
from models.place import Building, Community, Compound, District, Grid, Household, Street
from models.task import Task, TaskEvent, TaskMember
from models.task_rules import WORKING_ROLES, MemberRole, TaskKind, TaskStatus, TaskVisibility
from models.volunteer import SignupStatus, VolunteerCall, VolunteerSignup
from models.vote import Vote, VoteElector, VoteOwner, VoteTally
from models.vote_rules import VoteMatter, VoteRule, VoteStatus

REGISTERED_ONCE = frozenset(
    {RegistrationStatus.APPROVED, RegistrationStatus.ENDED, RegistrationStatus.TRANSFERRED}
)
ENDED = frozenset({RegistrationStatus.ENDED, RegistrationStatus.TRANSFERRED})

NAMES = ["李明", "王小红", "欧阳娜娜", "张", "司马相如", "东方", "赵钱孙李"]
PHONES = ["13800001111", "139000022", "12345", "13912345678", "1860000"]


@dataclass
class World:
    #: every community lies in one street of one district
    district: uuid.UUID = field(default_factory=uuid.uuid4)
    street: uuid.UUID = field(default_factory=uuid.uuid4)
    communities: list[uuid.UUID] = field(default_factory=list)
    grids: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # grid → community
    compounds: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # compound → grid
    buildings: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # building → compound
    households: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # household → building
    people: dict[uuid.UUID, tuple[str, str]] = field(default_factory=dict)  # person → (name, phone)
    party: dict[uuid.UUID, date | None] = field(default_factory=dict)  # person → registered on
    homes: list[tuple[uuid.UUID, uuid.UUID, HomeRelation]] = field(default_factory=list)  # person, household
    roles: list[tuple[uuid.UUID, Role, uuid.UUID | None]] = field(default_factory=list)  # person, role, place
    positions: list[tuple[uuid.UUID, uuid.UUID, Position, uuid.UUID | None]] = field(default_factory=list)
    tasks: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    members: list[tuple[uuid.UUID, uuid.UUID, MemberRole]] = field(default_factory=list)  # task, person, role
    actors: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # task, person
    meetings: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # meeting → task
    attendees: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # meeting, person
    calls: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # call → task
    signups: list[tuple[uuid.UUID, uuid.UUID, SignupStatus]] = field(default_factory=list)  # call, person
    votes: dict[uuid.UUID, tuple[uuid.UUID, VoteStatus]] = field(default_factory=dict)  # vote → compound
    vote_owners: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = field(
        default_factory=list
    )  # vote, house, person
    #: claims to a home: claim → (household, claimant, status)
    claims: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, ClaimStatus]] = field(default_factory=dict)
    #: Party registrations: registration → (household, member, status); at most one approved and
    #: one pending per member
    registrations: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, RegistrationStatus]] = field(
        default_factory=dict
    )
    #: evaluations: evaluation → (compound, member, status)
    evaluations: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, EvaluationStatus]] = field(default_factory=dict)
    #: building groups: group → (compound, its buildings)
    groups: dict[uuid.UUID, tuple[uuid.UUID, tuple[uuid.UUID, ...]]] = field(default_factory=dict)
    #: notices: notice → (community, compound or None, its buildings, author, out yet, withdrawn)
    notices: dict[
        uuid.UUID, tuple[uuid.UUID, uuid.UUID | None, tuple[uuid.UUID, ...], uuid.UUID, bool, bool]
    ] = field(default_factory=dict)

    # --- places --------------------------------------------------------------------------------

    def compound_place(self, compound: uuid.UUID) -> PlaceFacts:
        grid = self.compounds[compound]
        return PlaceFacts(community_id=self.grids[grid], grid_id=grid, compound_id=compound)

    def claim_facts(self, claim: uuid.UUID) -> ClaimFacts:
        household, person, _ = self.claims[claim]
        place = self.household_place(household)
        return ClaimFacts(
            community_id=place.community_id,
            grid_id=place.grid_id,
            compound_id=place.compound_id,
            building_id=place.building_id,
            household_id=place.household_id,
            person_id=person,
        )

    def registration_facts(self, registration: uuid.UUID) -> ClaimFacts:
        household, person, _ = self.registrations[registration]
        return ClaimFacts(**vars(self.household_place(household)), person_id=person)

    def evaluation_facts(self, evaluation: uuid.UUID) -> EvaluationFacts:
        compound, person, status = self.evaluations[evaluation]
        return EvaluationFacts(**vars(self.compound_place(compound)), person_id=person, status=status.value)

    def group_facts(self, group: uuid.UUID) -> PlaceFacts:
        return self.compound_place(self.groups[group][0])

    def notice_facts(self, notice: uuid.UUID) -> NoticeFacts:
        community, compound, buildings, author, out, withdrawn = self.notices[notice]
        reached = (
            [compound]
            if compound is not None
            else [c for c, g in self.compounds.items() if self.grids[g] == community]
        )
        return NoticeFacts(
            community_id=community,
            grid_id=self.compounds[compound] if compound is not None else None,
            compound_id=compound,
            author_id=author,
            published=out,
            whole=not buildings,
            in_compound=compound is not None,
            withdrawn=withdrawn,
            compounds=self._places(reached),
            buildings=tuple(self.building_place(b) for b in buildings),
        )

    def groups_of(self, person: uuid.UUID) -> tuple[PlaceFacts, ...]:
        """The groups of the buildings a person's approved registrations were made from."""
        buildings = {
            self.households[h]
            for h, p, s in self.registrations.values()
            if p == person and s == RegistrationStatus.APPROVED
        }
        return tuple(self.group_facts(g) for g, (_, bs) in self.groups.items() if buildings & set(bs))

    def household_place(self, household: uuid.UUID) -> PlaceFacts:
        building = self.households[household]
        return PlaceFacts(
            **{
                **vars(self.compound_place(self.buildings[building])),
                "building_id": building,
                "household_id": household,
            }
        )

    def building_place(self, building: uuid.UUID) -> PlaceFacts:
        return PlaceFacts(**{**vars(self.compound_place(self.buildings[building])), "building_id": building})

    # --- facts, derived from the data alone -----------------------------------------------------

    def task_facts(self, task: uuid.UUID) -> TaskFacts:
        t = self.tasks[task]
        held = [(p, r) for tk, p, r in self.members if tk == task]
        place = self.compound_place(t["compound"])
        return TaskFacts(
            **{**vars(place), "building_id": t["building"]},
            kind=t["kind"],
            visibility=t["visibility"],
            status=t["status"],
            reporter_id=t["reporter"],
            assigned_role=t["assigned_role"],
            workers=frozenset(p for p, r in held if r in WORKING_ROLES),
            parties=frozenset(p for p, r in held if r == MemberRole.PARTY),
            mediators=frozenset(p for p, r in held if r == MemberRole.MEDIATOR),
        )

    def vote_facts(self, vote: uuid.UUID) -> VoteFacts:
        compound, status = self.votes[vote]
        owners = frozenset(p for v, _, p in self.vote_owners if v == vote)
        return VoteFacts(**vars(self.compound_place(compound)), status=status, owners=owners)

    def elector_facts(self, vote: uuid.UUID, household: uuid.UUID) -> ElectorFacts:
        owners = frozenset(p for v, h, p in self.vote_owners if v == vote and h == household)
        return ElectorFacts(**vars(self.household_place(household)), owners=owners)

    def electorate(self, vote: uuid.UUID) -> list[uuid.UUID]:
        compound, _ = self.votes[vote]
        return [h for h, b in self.households.items() if self.buildings[b] == compound]

    def area_facts(self, grid: uuid.UUID | None = None, community: uuid.UUID | None = None) -> AreaFacts:
        if grid is not None:
            inside = [c for c, g in self.compounds.items() if g == grid]
            return AreaFacts(community_id=self.grids[grid], grid_id=grid, compounds=self._places(inside))
        inside = [c for c, g in self.compounds.items() if self.grids[g] == community]
        return AreaFacts(community_id=community, compounds=self._places(inside))

    def region_facts(self) -> RegionFacts:
        """The district's or the street's facts: the communities in it (all of them)."""
        return RegionFacts(communities=tuple(self.area_facts(community=c) for c in self.communities))

    def _places(self, compounds: list[uuid.UUID]) -> tuple[PlaceFacts, ...]:
        return tuple(self.compound_place(c) for c in compounds)

    def person_facts(self, person: uuid.UUID) -> PersonFacts:
        ties: list[TieFacts] = []
        for p, h, rel in self.homes:
            if p == person:
                ties.append(TieFacts(kind=Tie(rel.value), **vars(self.household_place(h))))
        for p, role, place in self.roles:
            if p != person or place is None:
                continue
            scope = ROLE_SCOPE[role]
            if scope == "compound":
                ties.append(TieFacts(kind=Tie(role.value), **vars(self.compound_place(place))))
            elif scope == "grid":
                ties.append(TieFacts(kind=Tie(role.value), community_id=self.grids[place], grid_id=place))
            else:
                ties.append(TieFacts(kind=Tie(role.value), community_id=place))
        for p, compound, _, building in self.positions:
            if p == person:
                ties.append(
                    TieFacts(
                        kind=Tie.POSITION, **{**vars(self.compound_place(compound)), "building_id": building}
                    )
                )

        def tasks_where(ids: set[uuid.UUID]) -> tuple[TaskFacts, ...]:
            return tuple(self.task_facts(t) for t in sorted(ids))

        return PersonFacts(
            person_id=person,
            ties=tuple(ties),
            homes=tuple(self.household_place(h) for p, h, _ in self.homes if p == person),
            seats=tuple(self.compound_place(c) for p, c, _, _ in self.positions if p == person),
            tasks=tasks_where(
                {t for t, d in self.tasks.items() if d["reporter"] == person}
                | {t for t, p, _ in self.members if p == person}
                | {t for t, p in self.actors if p == person}
                | {self.meetings[m] for m, p in self.attendees if p == person}
            ),
            volunteered=tasks_where(
                {self.calls[c] for c, p, s in self.signups if p == person and s != SignupStatus.WITHDRAWN}
            ),
            groups=self.groups_of(person),
        )

    def principal(self, person: uuid.UUID) -> PersonPrincipal:
        return PersonPrincipal(
            person_id=person,
            name=self.people[person][0],
            roles=tuple(RoleGrant(role, place) for p, role, place in self.roles if p == person),
            positions=tuple(PositionGrant(pos, c, b) for p, c, pos, b in self.positions if p == person),
            homes=tuple(
                HomeGrant(h, self.households[h], self.buildings[self.households[h]], rel)
                for p, h, rel in self.homes
                if p == person
            ),
        )


# --- the strategy -------------------------------------------------------------------------------------


@st.composite
def worlds(draw: st.DrawFn) -> World:
    w = World()
    ids = st.uuids(version=4)
    w.communities = [draw(ids) for _ in range(2)]
    for community in w.communities:
        for _ in range(draw(st.integers(1, 2))):
            w.grids[draw(ids)] = community
    grids = list(w.grids)
    for _ in range(draw(st.integers(2, 4))):
        w.compounds[draw(ids)] = draw(st.sampled_from(grids))
    compounds = list(w.compounds)
    for compound in compounds:
        for _ in range(draw(st.integers(1, 2))):
            w.buildings[draw(ids)] = compound
    for building in w.buildings:
        for _ in range(draw(st.integers(1, 3))):
            w.households[draw(ids)] = building
    households, buildings = list(w.households), list(w.buildings)
    for i in range(draw(st.integers(3, 7))):
        w.people[draw(ids)] = (draw(st.sampled_from(NAMES)), f"{draw(st.sampled_from(PHONES))}{i}")
    people = list(w.people)
    for person in people:
        if draw(st.booleans()):
            w.party[person] = draw(st.sampled_from([None, date(2025, 7, 14)]))
        seen: set[uuid.UUID] = set()
        for _ in range(draw(st.integers(0, 2))):
            household = draw(st.sampled_from(households))
            if household not in seen:
                seen.add(household)
                w.homes.append((person, household, draw(st.sampled_from(list(HomeRelation)))))
        for _ in range(draw(st.integers(0, 2))):
            role = draw(st.sampled_from(list(Role)))
            scope = ROLE_SCOPE[role]
            place = {
                "compound": lambda: draw(st.sampled_from(compounds)),
                "grid": lambda: draw(st.sampled_from(grids)),
                "community": lambda: draw(st.sampled_from(w.communities)),
                None: lambda: None,
            }[scope]()
            if (person, role, place) not in w.roles:
                w.roles.append((person, role, place))
        if draw(st.integers(0, 3)) == 0:
            position = draw(st.sampled_from(list(Position)))
            if position == Position.BUILDING_CONVENER:
                building = draw(st.sampled_from(buildings))
                w.positions.append((person, w.buildings[building], position, building))
            else:
                w.positions.append((person, draw(st.sampled_from(compounds)), position, None))
    for _ in range(draw(st.integers(0, 4))):
        task = draw(ids)
        compound = draw(st.sampled_from(compounds))
        in_compound = [b for b, c in w.buildings.items() if c == compound]
        w.tasks[task] = {
            "compound": compound,
            "building": draw(st.sampled_from([None, *in_compound])),
            "kind": draw(st.sampled_from(list(TaskKind))).value,
            "visibility": draw(st.sampled_from(list(TaskVisibility))).value,
            "status": draw(st.sampled_from(list(TaskStatus))).value,
            "reporter": draw(st.sampled_from(people)),
            "assigned_role": draw(st.sampled_from([None, *(r.value for r in Role if r != Role.ADMIN)])),
        }
        for _ in range(draw(st.integers(0, 3))):
            member = (task, draw(st.sampled_from(people)), draw(st.sampled_from(list(MemberRole))))
            if member not in w.members:
                w.members.append(member)
        for _ in range(draw(st.integers(0, 2))):
            w.actors.append((task, draw(st.sampled_from(people))))
        if draw(st.booleans()):
            meeting = draw(ids)
            w.meetings[meeting] = task
            for person in set(draw(st.lists(st.sampled_from(people), max_size=2))):
                w.attendees.append((meeting, person))
        if draw(st.booleans()):
            call = draw(ids)
            w.calls[call] = task
            for person in set(draw(st.lists(st.sampled_from(people), max_size=2))):
                w.signups.append((call, person, draw(st.sampled_from(list(SignupStatus)))))
    for _ in range(draw(st.integers(0, 3))):
        claim = (draw(st.sampled_from(households)), draw(st.sampled_from(people)))
        status = draw(st.sampled_from(list(ClaimStatus)))
        waiting = {(h, p) for h, p, s in w.claims.values() if s == ClaimStatus.PENDING}
        if status != ClaimStatus.PENDING or claim not in waiting:  # one waiting claim per person and flat
            w.claims[draw(ids)] = (*claim, status)
    for _ in range(draw(st.integers(0, 3))):
        household, person = draw(st.sampled_from(households)), draw(st.sampled_from(people))
        status = draw(st.sampled_from(list(RegistrationStatus)))
        held = {(p, s) for _, p, s in w.registrations.values()}
        if status not in ONE_AT_A_TIME or (person, status) not in held:
            w.registrations[draw(ids)] = (household, person, status)
    for _ in range(draw(st.integers(0, 3))):
        w.evaluations[draw(ids)] = (
            draw(st.sampled_from(compounds)),
            draw(st.sampled_from(people)),
            draw(st.sampled_from(list(EvaluationStatus))),
        )
    grouped = draw(st.lists(st.sampled_from(buildings), unique=True, max_size=len(buildings)))
    for i in range(0, len(grouped), 2):  # groups of one or two buildings of a compound
        chosen = tuple(b for b in grouped[i : i + 2] if w.buildings[b] == w.buildings[grouped[i]])
        w.groups[draw(ids)] = (w.buildings[grouped[i]], chosen)
    for _ in range(draw(st.integers(0, 2))):
        vote = draw(ids)
        compound = draw(st.sampled_from(compounds))
        w.votes[vote] = (compound, draw(st.sampled_from(list(VoteStatus))))
        for household in w.electorate(vote):
            for person in set(draw(st.lists(st.sampled_from(people), max_size=2))):
                w.vote_owners.append((vote, household, person))
    for _ in range(draw(st.integers(0, 3))):
        compound = draw(st.sampled_from([None, *compounds]))
        if compound is None:
            community, chosen = draw(st.sampled_from(w.communities)), ()
        else:
            community = w.grids[w.compounds[compound]]
            inside = [b for b, c in w.buildings.items() if c == compound]
            chosen = tuple(draw(st.lists(st.sampled_from(inside), unique=True, max_size=len(inside))))
        w.notices[draw(ids)] = (
            community,
            compound,
            chosen,
            draw(st.sampled_from(people)),
            draw(st.booleans()),
            draw(st.booleans()),
        )
    return w


# --- writing a world ----------------------------------------------------------------------------------


async def insert(conn: AsyncConnection, w: World) -> None:
    now = datetime.now(UTC)

    async def rows(model: Any, values: list[dict[str, Any]]) -> None:
        if values:
            await conn.execute(sa.insert(model.__table__), values)

    await rows(District, [{"id": w.district, "name": f"区{w.district}"}])
    await rows(Street, [{"id": w.street, "district_id": w.district, "name": "街道"}])
    await rows(
        Community,
        [{"id": c, "key": str(c), "name": "社区", "street_id": w.street} for c in w.communities],
    )
    await rows(
        Grid, [{"id": g, "key": str(g), "name": "网格", "community_id": c} for g, c in w.grids.items()]
    )
    await rows(
        Compound,
        [
            {"id": c, "key": str(c), "name": "小区", "community_id": w.grids[g], "grid_id": g}
            for c, g in w.compounds.items()
        ],
    )
    await rows(Building, [{"id": b, "compound_id": c, "name": str(b)} for b, c in w.buildings.items()])
    await rows(
        Household,
        [
            {
                "id": h,
                "compound_id": w.buildings[b],
                "building_id": b,
                "number": str(h),
                "floor": 1,
                "area": Decimal(90),
            }
            for h, b in w.households.items()
        ],
    )
    await rows(Person, [{"id": p, "name": n, "phone": ph} for p, (n, ph) in w.people.items()])
    await rows(
        PartyProfile,
        [{"person_id": p, "work_unit": "单位党支部", "registered_on": d} for p, d in w.party.items()],
    )
    await rows(
        Home,
        [
            {"person_id": p, "household_id": h, "compound_id": w.buildings[w.households[h]], "relation": rel}
            for p, h, rel in w.homes
        ],
    )
    role_rows = []
    for p, role, place in w.roles:
        row: dict[str, Any] = {
            "person_id": p,
            "role": role,
            "compound_id": None,
            "grid_id": None,
            "community_id": None,
        }
        scope = ROLE_SCOPE[role]
        if scope is not None:
            row[f"{scope}_id"] = place
        role_rows.append(row)
    await rows(RoleAssignment, role_rows)
    await rows(
        TeamPosition,
        [
            {"person_id": p, "compound_id": c, "position": pos, "building_id": b}
            for p, c, pos, b in w.positions
        ],
    )
    await rows(
        Task,
        [
            {
                "id": t,
                "compound_id": d["compound"],
                "building_id": d["building"],
                "kind": d["kind"],
                "category": "OTHER",
                "title": "事项",
                "description": "描述",
                "visibility": d["visibility"],
                "status": d["status"],
                "reporter_id": d["reporter"],
                "assigned_role": d["assigned_role"],
                "reopen_count": 0,
            }
            for t, d in w.tasks.items()
        ],
    )

    def compound_of(task: uuid.UUID) -> uuid.UUID:
        return w.tasks[task]["compound"]

    await rows(
        TaskMember,
        [{"task_id": t, "person_id": p, "role": r, "compound_id": compound_of(t)} for t, p, r in w.members],
    )
    await rows(
        TaskEvent,
        [
            {
                "task_id": t,
                "compound_id": compound_of(t),
                "kind": "COMMENTED",
                "actor_id": p,
                "actor_role": "RESIDENT",
            }
            for t, p in w.actors
        ],
    )
    await rows(
        Meeting,
        [
            {
                "id": m,
                "task_id": t,
                "compound_id": compound_of(t),
                "topic": "会议",
                "held_at": now,
                "created_by": w.tasks[t]["reporter"],
            }
            for m, t in w.meetings.items()
        ],
    )
    await rows(
        MeetingAttendee,
        [
            {"meeting_id": m, "person_id": p, "compound_id": compound_of(w.meetings[m])}
            for m, p in w.attendees
        ],
    )
    await rows(
        VolunteerCall,
        [
            {
                "id": c,
                "task_id": t,
                "compound_id": compound_of(t),
                "title": "接龙",
                "needed": 5,
                "starts_at": now,
                "ends_at": now + timedelta(hours=2),
                "created_by": w.tasks[t]["reporter"],
                "signed_count": 0,
            }
            for c, t in w.calls.items()
        ],
    )
    await rows(
        VolunteerSignup,
        [
            {"call_id": c, "person_id": p, "compound_id": compound_of(w.calls[c]), "status": s}
            for c, p, s in w.signups
        ],
    )
    opener = next(iter(w.people))
    await rows(
        Vote,
        [
            {
                "id": v,
                "compound_id": c,
                "building_ids": [],
                "title": "表决",
                "description": "说明",
                "matter": VoteMatter.OTHER,
                "rule": VoteRule.ORDINARY,
                "status": s,
                "result": "INVALID" if s == VoteStatus.CLOSED else None,
                "cancelled_at": now if s == VoteStatus.CANCELLED else None,
                "closes_at": now + timedelta(days=3),
                "opens_at": now + timedelta(days=1) if s == VoteStatus.ANNOUNCED else None,
                "opened_by": opener,
            }
            for v, (c, s) in w.votes.items()
        ],
    )
    await rows(
        VoteTally,
        [
            {"vote_id": v, "compound_id": c, "eligible_area": 0, "eligible_headcount": 0}
            for v, (c, _) in w.votes.items()
        ],
    )
    await rows(
        VoteElector,
        [
            {
                "vote_id": v,
                "household_id": h,
                "compound_id": c,
                "building_id": w.households[h],
                "number": str(h),
                "area": Decimal(90),
                "head": str(h),
            }
            for v, (c, _) in w.votes.items()
            for h in w.electorate(v)
        ],
    )
    await rows(
        VoteOwner,
        [
            {"vote_id": v, "household_id": h, "person_id": p, "compound_id": w.votes[v][0]}
            for v, h, p in w.vote_owners
        ],
    )
    await rows(
        HomeClaim,
        [
            {
                "id": claim,
                "compound_id": w.buildings[w.households[h]],
                "building_id": w.households[h],
                "household_id": h,
                "person_id": p,
                "relation": HomeRelation.OWNER,
                "name": "申请人",
                "status": s,
                "decided_at": None if s == ClaimStatus.PENDING else now,
            }
            for claim, (h, p, s) in w.claims.items()
        ],
    )
    await rows(
        PartyRegistration,
        [
            {
                "id": registration,
                "compound_id": w.buildings[w.households[h]],
                "building_id": w.households[h],
                "household_id": h,
                "person_id": p,
                "party_org": "某单位党支部",
                "status": s,
                "decided_at": None if s == RegistrationStatus.PENDING else now,
                "approved_on": date(2025, 7, 14) if s in REGISTERED_ONCE else None,
                "ended_on": date(2026, 1, 1) if s in ENDED else None,
            }
            for registration, (h, p, s) in w.registrations.items()
        ],
    )
    await rows(PartyGroup, [{"id": g, "compound_id": c, "name": str(g)} for g, (c, _) in w.groups.items()])
    await rows(
        Notice,
        [
            {
                "id": n,
                "community_id": community,
                "compound_id": compound,
                "building_ids": list(buildings),
                "kind": "NORMAL",
                "title": "公告",
                "body": "正文",
                "version": 1,
                "pinned": False,
                "publish_at": now + (timedelta(days=-1) if out else timedelta(days=1)),
                "author_id": author,
                "author_role": "ADMIN",
                "withdrawn_at": now if withdrawn else None,
            }
            for n, (community, compound, buildings, author, out, withdrawn) in w.notices.items()
        ],
    )
    await rows(
        PartyEvaluation,
        [
            {
                "id": e,
                "compound_id": c,
                "person_id": p,
                "period": str(e),  # one period each: no two collide in the one-draft, one-confirmed rule
                "starts_on": date(2026, 10, 1),
                "ends_on": date(2027, 1, 1),
                "version": 1,
                "grade": "QUALIFIED",
                "comment": "评语",
                "status": s,
                "hours": Decimal(0),
                "meetings": 0,
                "shifts": 0,
                "tasks": 0,
                "disputes": 0,
                "points": Decimal(0),
                "drafted_at": now,
                "confirmed_at": None if s == EvaluationStatus.DRAFT else now,
            }
            for e, (c, p, s) in w.evaluations.items()
        ],
    )
    await rows(
        PartyGroupBuilding,
        [{"building_id": b, "group_id": g} for g, (_, bs) in w.groups.items() for b in bs],
    )


#: a member has at most one registration in each of these statuses
ONE_AT_A_TIME = frozenset({RegistrationStatus.PENDING, RegistrationStatus.APPROVED})


def sample_world() -> World:
    """One small fixed world with a bit of everything: two grids, a grid worker, residents, a team,
    a public task and a dispute, a vote with its owners."""
    u = uuid.uuid4
    w = World()
    c1, c2 = u(), u()
    w.communities = [c1, c2]
    g1, g2 = u(), u()
    w.grids = {g1: c1, g2: c2}
    a, x = u(), u()
    w.compounds = {a: g1, x: g2}
    b1, bx = u(), u()
    w.buildings = {b1: a, bx: x}
    h1, h2, hx = u(), u(), u()
    w.households = {h1: b1, h2: b1, hx: bx}
    owner, tenant, grid_worker, chief, outsider = u(), u(), u(), u(), u()
    w.people = {
        owner: ("欧阳娜娜", "13800001111"),
        tenant: ("李明", "13900002222"),
        grid_worker: ("王小红", "13600003333"),
        chief: ("张", "1860000"),
        outsider: ("司马相如", "12345"),
    }
    w.party = {chief: date(2025, 7, 14)}
    w.homes = [
        (owner, h1, HomeRelation.OWNER),
        (tenant, h2, HomeRelation.TENANT),
        (outsider, hx, HomeRelation.OWNER),
    ]
    w.roles = [(grid_worker, Role.GRID_WORKER, g1), (chief, Role.PARTY_MEMBER, a)]
    w.positions = [(chief, a, Position.CHIEF_CONVENER, None)]
    issue, dispute = u(), u()
    base = {"compound": a, "building": b1, "status": "ACCEPTED", "assigned_role": None}
    w.tasks = {
        issue: {**base, "kind": "ISSUE", "visibility": "PUBLIC", "reporter": tenant},
        dispute: {**base, "kind": "DISPUTE", "visibility": "PUBLIC", "reporter": owner},
    }
    w.members = [(dispute, owner, MemberRole.PARTY), (dispute, tenant, MemberRole.PARTY)]
    w.actors = [(issue, grid_worker)]
    vote = u()
    w.votes = {vote: (a, VoteStatus.OPEN)}
    w.vote_owners = [(vote, h1, owner)]
    w.claims = {u(): (h2, outsider, ClaimStatus.PENDING), u(): (hx, tenant, ClaimStatus.REJECTED)}
    w.registrations = {
        u(): (h1, chief, RegistrationStatus.APPROVED),
        u(): (hx, owner, RegistrationStatus.PENDING),
    }
    w.groups = {u(): (a, (b1,))}
    w.notices = {
        u(): (c1, None, (), grid_worker, True, False),
        u(): (c1, a, (b1,), chief, True, False),
        u(): (c1, a, (), chief, False, False),
        u(): (c1, a, (), chief, True, True),
    }
    return w
