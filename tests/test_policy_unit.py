"""The policy as pure functions, and proof that its SQL form agrees with it row for row."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import create_engine, sessionmaker
from auth.backend import load_person_principal
from auth.masking import mask_name, mask_phone
from auth.policy import POLICY, RELATION_SCOPE, Place, Rel, Subject, can, relations, scope_clause
from auth.principal import ANONYMOUS, ApiClientPrincipal, HomeGrant, PersonPrincipal, PositionGrant, RoleGrant
from models import Compound, Household
from models.enums import HomeRelation, Position, Role
from tests.conftest import make_settings

C1, C2 = uuid.uuid4(), uuid.uuid4()  # communities
G1, G2 = uuid.uuid4(), uuid.uuid4()  # grids of C1, C2
A, X = uuid.uuid4(), uuid.uuid4()  # compounds in G1 and G2
A1, A2 = uuid.uuid4(), uuid.uuid4()  # buildings of A
HA11, HA12, HA21 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
HX = uuid.uuid4()
BX = uuid.uuid4()

COMPOUND_A = Place(C1, G1, A)
COMPOUND_X = Place(C2, G2, X)
HOUSE = {
    "a11": Place(C1, G1, A, A1, HA11),
    "a12": Place(C1, G1, A, A1, HA12),
    "a21": Place(C1, G1, A, A2, HA21),
    "x": Place(C2, G2, X, BX, HX),
}


def person(**kw: object) -> PersonPrincipal:
    return PersonPrincipal(person_id=uuid.uuid4(), name="测试", **kw)  # type: ignore[arg-type]


PRINCIPALS = {
    "owner_a11": person(homes=(HomeGrant(HA11, A1, A, HomeRelation.OWNER),)),
    "tenant_a12": person(homes=(HomeGrant(HA12, A1, A, HomeRelation.TENANT),)),
    "party_a": person(
        roles=(RoleGrant(Role.PARTY_MEMBER, A),), homes=(HomeGrant(HA21, A2, A, HomeRelation.OWNER),)
    ),
    "convener_a1": person(
        positions=(PositionGrant(Position.BUILDING_CONVENER, A, A1),),
        homes=(HomeGrant(HA21, A2, A, HomeRelation.OWNER),),
    ),
    "chief_a": person(positions=(PositionGrant(Position.CHIEF_CONVENER, A),)),
    "grid_g1": person(roles=(RoleGrant(Role.GRID_WORKER, G1),)),
    "committee_c1": person(roles=(RoleGrant(Role.COMMUNITY_COMMITTEE, C1),)),
    "property_a": person(roles=(RoleGrant(Role.PROPERTY_STAFF, A),)),
    "owners_committee_a": person(roles=(RoleGrant(Role.OWNERS_COMMITTEE, A),)),
    "admin": person(roles=(RoleGrant(Role.ADMIN, None),)),
    "grid_g2": person(roles=(RoleGrant(Role.GRID_WORKER, G2),)),
    "api": ApiClientPrincipal(client_id=uuid.uuid4(), name="dashboard"),
    "anonymous": ANONYMOUS,
}

# (resource, action, place) → who is allowed; everyone else in PRINCIPALS is denied.
MATRIX: list[tuple[str, str, str, set[str]]] = [
    (
        "compound",
        "read",
        "A",
        {
            "owner_a11",
            "tenant_a12",
            "party_a",
            "convener_a1",
            "chief_a",
            "grid_g1",
            "committee_c1",
            "property_a",
            "owners_committee_a",
            "admin",
            "api",
        },
    ),
    ("compound", "read", "X", {"grid_g2", "admin", "api"}),
    (
        "household",
        "read",
        "a11",
        {"owner_a11", "convener_a1", "grid_g1", "committee_c1", "property_a", "owners_committee_a", "admin"},
    ),
    (
        "household",
        "read",
        "a12",
        {"tenant_a12", "convener_a1", "grid_g1", "committee_c1", "property_a", "owners_committee_a", "admin"},
    ),
    (
        "household",
        "read",
        "a21",
        {"party_a", "convener_a1", "grid_g1", "committee_c1", "property_a", "owners_committee_a", "admin"},
    ),
    ("household", "read", "x", {"grid_g2", "admin"}),
    (
        "compound.team",
        "read",
        "A",
        {
            "owner_a11",
            "tenant_a12",
            "party_a",
            "convener_a1",
            "chief_a",
            "grid_g1",
            "committee_c1",
            "property_a",
            "owners_committee_a",
            "admin",
        },
    ),
    ("schema", "introspect", "A", {"admin"}),
]


def _place(label: str) -> Place:
    return {"A": COMPOUND_A, "X": COMPOUND_X}.get(label) or HOUSE[label]


@pytest.mark.parametrize(
    ("resource", "action", "place", "who", "allowed"),
    [(r, a, p, who, who in allowed) for r, a, p, allowed in MATRIX for who in PRINCIPALS],
)
def test_matrix(resource: str, action: str, place: str, who: str, allowed: bool) -> None:
    assert can(PRINCIPALS[who], resource, action, _place(place)) is allowed


SUBJECT_OWNER = Subject(uuid.uuid4(), is_owner_here=True, lives_here=True)
SUBJECT_TENANT = Subject(uuid.uuid4(), is_owner_here=False, lives_here=True)
SUBJECT_PARTY = Subject(uuid.uuid4(), is_party_member_here=True, lives_here=True)
SUBJECT_VISITOR = Subject(uuid.uuid4())  # shown here (an assignee, an actor) but living elsewhere


@pytest.mark.parametrize(
    ("who", "subject", "name_full", "phone"),
    [
        ("owner_a11", SUBJECT_OWNER, False, None),
        ("owners_committee_a", SUBJECT_OWNER, True, "masked"),
        ("owners_committee_a", SUBJECT_TENANT, False, None),  # owners' committee: owners only
        ("party_a", SUBJECT_PARTY, True, None),  # fellow Party member: name, not phone
        ("party_a", SUBJECT_OWNER, False, None),
        ("grid_g1", SUBJECT_TENANT, True, "full"),
        ("committee_c1", SUBJECT_TENANT, True, "full"),
        ("property_a", SUBJECT_TENANT, True, "full"),
        ("admin", SUBJECT_TENANT, True, "full"),
        ("grid_g2", SUBJECT_TENANT, False, None),  # another grid
        ("api", SUBJECT_OWNER, False, None),
        ("convener_a1", SUBJECT_OWNER, False, None),
        ("property_a", SUBJECT_VISITOR, False, None),  # staff see residents in full, not visitors
        ("grid_g1", SUBJECT_VISITOR, True, "full"),
    ],
)
def test_person_fields(who: str, subject: Subject, name_full: bool, phone: str | None) -> None:
    principal = PRINCIPALS[who]
    place = HOUSE["a11"]
    assert can(principal, "person.name", "read_full", place, subject) is name_full
    full = can(principal, "person.phone", "read_full", place, subject)
    masked = can(principal, "person.phone", "read_masked", place, subject)
    assert ("full" if full else "masked" if masked else None) == phone


def test_self_sees_everything_of_their_own() -> None:
    me = PRINCIPALS["party_a"]
    subject = Subject(me.person_id, is_owner_here=True, is_party_member_here=True)
    for resource, action in (
        ("person.name", "read_full"),
        ("person.phone", "read_full"),
        ("party", "read_full"),
    ):
        assert can(me, resource, action, HOUSE["a21"], subject)


@pytest.mark.parametrize(
    ("who", "level"),
    [
        ("committee_c1", "full"),
        ("grid_g1", "status"),
        ("admin", "status"),
        ("property_a", None),
        ("party_a", None),
    ],
)
def test_party_data_levels(who: str, level: str | None) -> None:
    subject = Subject(uuid.uuid4(), is_party_member_here=True)
    elsewhere = Subject(uuid.uuid4(), is_party_member_here=False)  # registered with another compound
    assert not can(PRINCIPALS[who], "party", "read_full", COMPOUND_A, elsewhere)
    if who != "admin":
        assert not can(PRINCIPALS[who], "party", "read_status", COMPOUND_A, elsewhere)
    full = can(PRINCIPALS[who], "party", "read_full", COMPOUND_A, subject)
    status = can(PRINCIPALS[who], "party", "read_status", COMPOUND_A, subject)
    assert ("full" if full else "status" if status else None) == level


def test_unknown_action_is_denied_to_everyone() -> None:
    for principal in PRINCIPALS.values():
        assert not can(principal, "household", "delete", HOUSE["a11"])


def test_every_place_relation_has_a_scope() -> None:
    granted = set().union(*POLICY.values())
    subject_relations = {
        Rel.SELF,
        Rel.OWNERS_COMMITTEE_ON_OWNER,
        Rel.PARTY_GROUP,
        Rel.ELIGIBLE_OWNER,
        Rel.REPORTER,
        Rel.ASSIGNEE,
        Rel.DISPUTE_PARTY,
        Rel.MEDIATOR,
        Rel.STAFF_ON_RESIDENT,
        Rel.COMMITTEE_ON_MEMBER,
        Rel.GRID_ON_MEMBER,
    }
    assert granted - subject_relations <= set(RELATION_SCOPE)


def test_anonymous_holds_no_relation() -> None:
    assert relations(ANONYMOUS, HOUSE["a11"], SUBJECT_OWNER) == frozenset()


def test_masking() -> None:
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone(None) is None
    assert mask_name("李明") == "李*"
    assert mask_name("王小红") == "王**"
    assert mask_name("欧阳娜娜") == "欧阳**"


# --- the SQL form agrees with the pure form, row by row, on the demo world -------------------------

PHONES = [f"138000000{n:02d}" for n in range(19)]


async def test_list_filters_match_single_checks(demo_db_url: str) -> None:
    engine = create_engine(demo_db_url, make_settings(demo_db_url), pool_size=1, max_overflow=0)
    try:
        async with sessionmaker(engine)() as session:
            for phone in PHONES:
                await _compare(session, phone)
    finally:
        await engine.dispose()


async def _compare(session: AsyncSession, phone: str) -> None:
    pid = (await session.execute(sa.text("SELECT id FROM person WHERE phone = :p"), {"p": phone})).scalar()
    principal = await load_person_principal(session, pid)
    assert principal is not None
    compounds = {c.id: c for c in (await session.execute(sa.select(Compound))).scalars()}
    households = (await session.execute(sa.select(Household))).scalars().all()
    by_check = {
        h.id
        for h in households
        if can(
            principal,
            "household",
            "read",
            Place(
                compounds[h.compound_id].community_id,
                compounds[h.compound_id].grid_id,
                h.compound_id,
                h.building_id,
                h.id,
            ),
        )
    }
    clause = scope_clause(
        principal,
        "household",
        "read",
        {
            "compound": Household.compound_id,
            "building": Household.building_id,
            "household": Household.id,
        },
    )
    by_sql = set((await session.execute(sa.select(Household.id).where(clause))).scalars())
    assert by_sql == by_check, phone
    compound_check = {
        c.id
        for c in compounds.values()
        if can(principal, "compound", "read", Place(c.community_id, c.grid_id, c.id))
    }
    compound_sql = set(
        (
            await session.execute(
                sa.select(Compound.id).where(
                    scope_clause(principal, "compound", "read", {"compound": Compound.id})
                )
            )
        ).scalars()
    )
    assert compound_sql == compound_check, phone
