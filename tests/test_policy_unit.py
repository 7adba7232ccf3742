"""The policy as pure functions (DESIGN §5 as a matrix), and its SQL form on the demo world.

Property-based agreement of the two forms on generated worlds is `test_policy_agreement.py`.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import create_engine, sessionmaker
from app.demo import story
from auth import policy
from auth.backend import load_person_principal
from auth.facts import NoticeFacts, PersonFacts, PlaceFacts, TaskFacts, Tie, TieFacts, VoteFacts
from auth.masking import mask_name, mask_phone
from auth.policy import FIELDS, POLICY, Action, Field, Resource, allows, require, shown
from auth.principal import ANONYMOUS, ApiClientPrincipal, HomeGrant, PersonPrincipal, PositionGrant, RoleGrant
from auth.rules import OneOf, Some
from models.enums import HomeRelation, Position, Role
from models.errors import ForbiddenError
from models.place import Compound, Household
from models.task import Task, TaskMember
from tests.conftest import make_settings

C1, C2 = uuid.uuid4(), uuid.uuid4()  # communities
G1, G2 = uuid.uuid4(), uuid.uuid4()  # grids of C1, C2
A, X = uuid.uuid4(), uuid.uuid4()  # compounds in G1 and G2
A1, A2 = uuid.uuid4(), uuid.uuid4()  # buildings of A
HA11, HA12, HA21 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
HX = uuid.uuid4()
BX = uuid.uuid4()

COMPOUND_A = PlaceFacts(community_id=C1, grid_id=G1, compound_id=A)
COMPOUND_X = PlaceFacts(community_id=C2, grid_id=G2, compound_id=X)
HOUSE = {
    "a11": PlaceFacts(community_id=C1, grid_id=G1, compound_id=A, building_id=A1, household_id=HA11),
    "a12": PlaceFacts(community_id=C1, grid_id=G1, compound_id=A, building_id=A1, household_id=HA12),
    "a21": PlaceFacts(community_id=C1, grid_id=G1, compound_id=A, building_id=A2, household_id=HA21),
    "x": PlaceFacts(community_id=C2, grid_id=G2, compound_id=X, building_id=BX, household_id=HX),
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
EVERYONE_OF_A = {
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
}

# (resource, action, place) → who is allowed; everyone else in PRINCIPALS is denied.
MATRIX: list[tuple[Resource, Action, str, set[str]]] = [
    (Resource.COMPOUND, Action.READ, "A", EVERYONE_OF_A | {"api"}),
    (Resource.COMPOUND, Action.READ, "X", {"grid_g2", "admin", "api"}),
    (Resource.COMPOUND, Action.READ_TEAM, "A", EVERYONE_OF_A),
    (Resource.COMPOUND, Action.READ_TASK_STATS, "A", EVERYONE_OF_A | {"api"}),
    (
        Resource.COMPOUND,
        Action.REPORT_TASK,
        "A",
        EVERYONE_OF_A - {"admin"},
    ),
    (
        Resource.COMPOUND,
        Action.CREATE_PROJECT,
        "A",
        {"chief_a", "grid_g1", "committee_c1", "owners_committee_a"},
    ),
    (Resource.COMPOUND, Action.OPEN_VOTE, "A", {"committee_c1", "owners_committee_a"}),
    (Resource.COMPOUND, Action.SET_PROCEDURE, "A", {"committee_c1", "owners_committee_a"}),
    (Resource.COMPOUND, Action.SET_PROCEDURE, "X", set()),
    # anyone with a home appoints (that they own one is the proxy's own rule); the committees check
    (Resource.COMPOUND, Action.APPOINT_PROXY, "A", {"owner_a11", "tenant_a12", "party_a", "convener_a1"}),
    (Resource.COMPOUND, Action.VERIFY_PROXY, "A", {"committee_c1", "owners_committee_a"}),
    (Resource.COMPOUND, Action.VERIFY_PROXY, "X", set()),
    (Resource.BUILDING, Action.READ, "a11", EVERYONE_OF_A | {"api"}),
    (
        Resource.HOUSEHOLD,
        Action.READ,
        "a11",
        {"owner_a11", "convener_a1", "grid_g1", "committee_c1", "property_a", "owners_committee_a", "admin"},
    ),
    (
        Resource.HOUSEHOLD,
        Action.READ,
        "a12",
        {"tenant_a12", "convener_a1", "grid_g1", "committee_c1", "property_a", "owners_committee_a", "admin"},
    ),
    (
        Resource.HOUSEHOLD,
        Action.READ,
        "a21",
        {"party_a", "convener_a1", "grid_g1", "committee_c1", "property_a", "owners_committee_a", "admin"},
    ),
    (Resource.HOUSEHOLD, Action.READ, "x", {"grid_g2", "admin"}),
    (Resource.SCHEMA, Action.INTROSPECT, "A", {"admin"}),
]


def _place(label: str) -> PlaceFacts:
    return {"A": COMPOUND_A, "X": COMPOUND_X}.get(label) or HOUSE[label]


@pytest.mark.parametrize(
    ("resource", "action", "place", "who", "allowed"),
    [(r, a, p, who, who in allowed) for r, a, p, allowed in MATRIX for who in PRINCIPALS],
)
def test_matrix(resource: Resource, action: Action, place: str, who: str, allowed: bool) -> None:
    assert allows(PRINCIPALS[who], resource, action, _place(place)) is allowed


# --- tasks ---------------------------------------------------------------------------------------

REPORTER = PRINCIPALS["owner_a11"]
ASSIGNEE = person()  # someone from outside, assigned to work the task
PARTY_TO_DISPUTE = PRINCIPALS["tenant_a12"]


def task(kind: str = "ISSUE", visibility: str = "PUBLIC", **kw: object) -> TaskFacts:
    return TaskFacts(
        community_id=C1,
        grid_id=G1,
        compound_id=A,
        building_id=A1,
        kind=kind,
        visibility=visibility,
        status="ACCEPTED",
        reporter_id=REPORTER.person_id,
        **kw,  # type: ignore[arg-type]
    )


TASK_MATRIX: list[tuple[str, TaskFacts, set[str]]] = [
    ("public issue", task(), EVERYONE_OF_A - {"admin"}),
    (
        "internal task",
        task(visibility="INTERNAL"),
        {
            "owner_a11",
            "convener_a1",
            "chief_a",
            "grid_g1",
            "committee_c1",
            "property_a",
            "owners_committee_a",
        },
    ),
    (
        "dispute",
        task(kind="DISPUTE", parties=frozenset({PARTY_TO_DISPUTE.person_id, REPORTER.person_id})),
        {"owner_a11", "tenant_a12", "grid_g1", "committee_c1"},
    ),
    (
        "dispute assigned to the property",
        task(kind="DISPUTE", assigned_role="PROPERTY_STAFF"),
        {"owner_a11", "grid_g1", "committee_c1", "property_a"},
    ),
]


@pytest.mark.parametrize(
    ("label", "facts", "who", "allowed"),
    [(label, facts, who, who in allowed) for label, facts, allowed in TASK_MATRIX for who in PRINCIPALS],
)
def test_who_reads_a_task(label: str, facts: TaskFacts, who: str, allowed: bool) -> None:
    assert allows(PRINCIPALS[who], Resource.TASK, Action.READ, facts) is allowed


def test_an_assignee_reads_and_works_what_they_are_assigned() -> None:
    assigned = task(visibility="INTERNAL", workers=frozenset({ASSIGNEE.person_id}))
    assert allows(ASSIGNEE, Resource.TASK, Action.READ, assigned)
    assert allows(ASSIGNEE, Resource.TASK, Action.RESOLVE, assigned)
    assert not allows(ASSIGNEE, Resource.TASK, Action.ACCEPT, assigned)
    assert not allows(ASSIGNEE, Resource.TASK, Action.READ, task(visibility="INTERNAL"))


TRIAGERS = {"convener_a1", "chief_a", "grid_g1", "committee_c1"}  # the task is in building A1


@pytest.mark.parametrize("who", sorted(PRINCIPALS))
@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (Action.ACCEPT, TRIAGERS),
        (Action.ASSIGN, TRIAGERS),
        (Action.START, TRIAGERS),
        (Action.REOPEN, {"owner_a11"}),
        (Action.RATE, {"owner_a11"}),
        (Action.SIGN_UP, {"owner_a11", "tenant_a12", "party_a", "convener_a1"}),
        (Action.ASSIGN_MEDIATOR, {"grid_g1", "committee_c1"}),
        (Action.PUBLISH_DISCLOSURE, TRIAGERS),
    ],
)
def test_task_actions(who: str, action: Action, allowed: set[str]) -> None:
    assert allows(PRINCIPALS[who], Resource.TASK, action, task()) is (who in allowed)


def test_a_denial_keeps_existence_secret_until_the_object_is_visible() -> None:
    resident = PRINCIPALS["tenant_a12"]
    with pytest.raises(ForbiddenError) as visible:
        require(resident, Resource.TASK, Action.ACCEPT, task())
    assert visible.value.message == POLICY[(Resource.TASK, Action.ACCEPT)].denied
    with pytest.raises(ForbiddenError) as hidden:
        require(PRINCIPALS["grid_g2"], Resource.TASK, Action.ACCEPT, task())
    assert hidden.value.message == policy.NOT_VISIBLE


# --- votes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["OPEN", "CLOSED"])
@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_who_reads_a_vote(status: str, who: str) -> None:
    owner = PRINCIPALS["owner_a11"]
    facts = VoteFacts(
        community_id=C1, grid_id=G1, compound_id=A, status=status, owners=frozenset({owner.person_id})
    )
    open_readers = {"owner_a11", "convener_a1", "chief_a", "grid_g1", "committee_c1", "owners_committee_a"}
    readers = open_readers if status == "OPEN" else EVERYONE_OF_A | {"api"}
    assert allows(PRINCIPALS[who], Resource.VOTE, Action.READ, facts) is (who in readers)
    assert allows(PRINCIPALS[who], Resource.VOTE, Action.CAST, facts) is (who == "owner_a11")
    committees = {"committee_c1", "owners_committee_a"}
    for action in (Action.ENTER_PAPER_BALLOTS, Action.ANSWER_OBJECTIONS, Action.EXPORT):
        assert allows(PRINCIPALS[who], Resource.VOTE, action, facts) is (who in committees), action
    assert allows(PRINCIPALS[who], Resource.VOTE, Action.OBJECT, facts) is (who == "owner_a11")
    # the roll published before it opens: the people of the compound read it, residents object
    roll_readers = EVERYONE_OF_A - {"admin"}
    assert allows(PRINCIPALS[who], Resource.VOTE, Action.READ_ROLL, facts) is (who in roll_readers)
    residents = {"owner_a11", "tenant_a12", "party_a", "convener_a1"}
    assert allows(PRINCIPALS[who], Resource.VOTE, Action.OBJECT_TO_ROLL, facts) is (who in residents)


# --- people: visibility, names, phones, Party data --------------------------------------------------


def tie(kind: Tie, place: PlaceFacts) -> TieFacts:
    return TieFacts(kind=kind, **vars(place))


SUBJECT_OWNER = PersonFacts(
    person_id=uuid.uuid4(), ties=(tie(Tie.OWNER, HOUSE["a11"]),), homes=(HOUSE["a11"],)
)
SUBJECT_TENANT = PersonFacts(
    person_id=uuid.uuid4(), ties=(tie(Tie.TENANT, HOUSE["a12"]),), homes=(HOUSE["a12"],)
)
SUBJECT_PARTY = PersonFacts(
    person_id=uuid.uuid4(),
    ties=(tie(Tie.OWNER, HOUSE["a21"]), tie(Tie.PARTY_MEMBER, COMPOUND_A)),
    homes=(HOUSE["a21"],),
)
#: property staff of compound A (no home there): tied to A by their role
SUBJECT_STAFF = PersonFacts(person_id=uuid.uuid4(), ties=(tie(Tie.PROPERTY_STAFF, COMPOUND_A),))
#: someone of another grid shown on A's task (an actor of its timeline)
SUBJECT_VISITOR = PersonFacts(
    person_id=uuid.uuid4(), ties=(tie(Tie.OWNER, HOUSE["x"]),), homes=(HOUSE["x"],), tasks=(task(),)
)


def _phone_level(who: str, subject: PersonFacts) -> str | None:
    value = shown(PRINCIPALS[who], Resource.PERSON, Field.PHONE, subject, "13812341234")
    return {"13812341234": "full", "138****1234": "masked", None: None}[value]


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
        ("property_a", SUBJECT_VISITOR, False, None),  # staff see their residents in full, not visitors
        ("grid_g1", SUBJECT_VISITOR, False, None),  # tied to another grid: masked wherever shown
        ("grid_g1", SUBJECT_STAFF, True, "full"),  # works in the grid
        ("grid_g2", SUBJECT_VISITOR, True, "full"),
    ],
)
def test_person_fields(who: str, subject: PersonFacts, name_full: bool, phone: str | None) -> None:
    name = shown(PRINCIPALS[who], Resource.PERSON, Field.NAME, subject, "王小红")
    assert name == ("王小红" if name_full else "王**")
    assert _phone_level(who, subject) == phone


def test_self_sees_everything_of_their_own() -> None:
    me = PRINCIPALS["party_a"]
    subject = PersonFacts(person_id=me.person_id, ties=SUBJECT_PARTY.ties)
    for field in Field:
        if (Resource.PERSON, field) in FIELDS:
            assert shown(me, Resource.PERSON, field, subject, "x") == "x"
    assert allows(me, Resource.PERSON, Action.READ, subject)


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
    member = PersonFacts(person_id=uuid.uuid4(), ties=(tie(Tie.PARTY_MEMBER, COMPOUND_A),))
    elsewhere = PersonFacts(person_id=uuid.uuid4(), ties=(tie(Tie.PARTY_MEMBER, COMPOUND_X),))
    assert shown(PRINCIPALS[who], Resource.PERSON, Field.PARTY_DETAIL, elsewhere, "x") is None
    if who != "admin":
        assert shown(PRINCIPALS[who], Resource.PERSON, Field.PARTY_STATUS, elsewhere, "x") is None
    full = shown(PRINCIPALS[who], Resource.PERSON, Field.PARTY_DETAIL, member, "x") == "x"
    status = shown(PRINCIPALS[who], Resource.PERSON, Field.PARTY_STATUS, member, "x") == "x"
    assert ("full" if full else "status" if status else None) == level


@pytest.mark.parametrize(
    ("subject", "readers"),
    [
        (
            SUBJECT_OWNER,
            {"owner_a11", "convener_a1", "grid_g1", "committee_c1", "property_a", "owners_committee_a"},
        ),
        # shown on a task of A: whoever reads the task sees them (masked as above)
        (SUBJECT_VISITOR, (EVERYONE_OF_A - {"admin"}) | {"grid_g2"}),
    ],
)
@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_a_person_is_visible_where_they_are_shown(subject: PersonFacts, readers: set[str], who: str) -> None:
    assert allows(PRINCIPALS[who], Resource.PERSON, Action.READ, subject) is (who in readers | {"admin"})


def test_unknown_action_is_denied_to_everyone() -> None:
    for principal in PRINCIPALS.values():
        assert not allows(principal, Resource.HOUSEHOLD, Action.CLOSE, HOUSE["a11"])


def test_a_misspelt_attribute_fails_when_the_table_is_checked() -> None:
    broken = Some("ties", OneOf("compund_id", frozenset({A})))
    with pytest.raises(AssertionError, match="compund_id"):
        policy._check_attrs(broken, PersonFacts, "test")


#: what a caller with no credentials may do: send a document of its own (a login)
ANONYMOUS_MAY = {(Resource.SCHEMA, Action.RUN_UNREGISTERED)}


def test_anonymous_holds_nothing_but_sending_its_own_document() -> None:
    for (resource, action), rule in POLICY.items():
        for facts in (COMPOUND_A, HOUSE["a11"], task(), SUBJECT_OWNER):
            try:
                holds = rule.cond.holds(ANONYMOUS, facts)
            except AttributeError:
                continue  # facts of another kind of object
            assert holds == ((resource, action) in ANONYMOUS_MAY), (resource, action)


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
        assert await story.tell(sessionmaker(engine))  # the demo's tasks and votes, as clients made them
        async with sessionmaker(engine)() as session:
            for phone in PHONES:
                await _compare(session, phone)
    finally:
        await engine.dispose()


async def _compare(session: AsyncSession, phone: str) -> None:
    pid = (await session.execute(sa.text("SELECT id FROM person WHERE phone = :p"), {"p": phone})).scalar()
    principal = await load_person_principal(session, pid)
    assert principal is not None
    values = policy.params(principal)
    compounds = {c.id: c for c in (await session.execute(sa.select(Compound))).scalars()}

    def place(compound_id: uuid.UUID, **kw: object) -> PlaceFacts:
        c = compounds[compound_id]
        return PlaceFacts(community_id=c.community_id, grid_id=c.grid_id, compound_id=c.id, **kw)  # type: ignore[arg-type]

    households = (await session.execute(sa.select(Household))).scalars().all()
    by_check = {
        h.id
        for h in households
        if allows(
            principal,
            Resource.HOUSEHOLD,
            Action.READ,
            place(h.compound_id, building_id=h.building_id, household_id=h.id),
        )
    }
    where = policy.where(principal, Resource.HOUSEHOLD, Action.READ, Household.__table__)
    by_sql = set((await session.execute(sa.select(Household.id).where(where), values)).scalars())
    assert by_sql == by_check, phone

    compound_check = {c for c in compounds if allows(principal, Resource.COMPOUND, Action.READ, place(c))}
    where = policy.where(principal, Resource.COMPOUND, Action.READ, Compound.__table__)
    assert (
        set((await session.execute(sa.select(Compound.id).where(where), values)).scalars()) == compound_check
    ), phone

    members: dict[uuid.UUID, list[TaskMember]] = {}
    for m in (await session.execute(sa.select(TaskMember))).scalars():
        members.setdefault(m.task_id, []).append(m)
    tasks = (await session.execute(sa.select(Task))).scalars().all()
    assert tasks, "the demo world tells tasks"

    def facts(t: Task) -> TaskFacts:
        held = members.get(t.id, [])
        return TaskFacts(
            **vars(place(t.compound_id, building_id=t.building_id)),
            kind=t.kind,
            visibility=t.visibility,
            status=t.status,
            reporter_id=t.reporter_id,
            assigned_role=t.assigned_role,
            workers=frozenset(m.person_id for m in held if m.role in ("ASSIGNEE", "LEAD", "MEMBER")),
            parties=frozenset(m.person_id for m in held if m.role == "PARTY"),
            mediators=frozenset(m.person_id for m in held if m.role == "MEDIATOR"),
        )

    for action in (
        Action.READ,
        Action.ACCEPT,
        Action.START,
        Action.RATE,
        Action.SIGN_UP,
        Action.RECORD_OUTCOME,
    ):
        task_check = {t.id for t in tasks if allows(principal, Resource.TASK, action, facts(t))}
        where = policy.where(principal, Resource.TASK, action, Task.__table__)
        assert (
            set((await session.execute(sa.select(Task.id).where(where), values)).scalars()) == task_check
        ), (
            phone,
            action,
        )


# --- notices -------------------------------------------------------------------------------------

A1_PLACE = PlaceFacts(community_id=C1, grid_id=G1, compound_id=A, building_id=A1)


def notice(
    *,
    compound: bool,
    buildings: tuple[PlaceFacts, ...] = (),
    published: bool = True,
    author: uuid.UUID | None = None,
    withdrawn: bool = False,
) -> NoticeFacts:
    return NoticeFacts(
        community_id=C1,
        grid_id=G1 if compound else None,
        compound_id=A if compound else None,
        author_id=author or uuid.uuid4(),
        published=published,
        whole=not buildings,
        in_compound=compound,
        withdrawn=withdrawn,
        compounds=(COMPOUND_A,),
        buildings=buildings,
    )


SERVING_A = {"party_a", "convener_a1", "chief_a", "grid_g1", "property_a", "owners_committee_a"}


@pytest.mark.parametrize(
    ("facts", "readers"),
    [
        # a compound (or community) notice: everyone of the compound and the committee
        (notice(compound=True), EVERYONE_OF_A | {"admin"}),
        (notice(compound=False), EVERYONE_OF_A | {"admin"}),
        # a notice to building A1: those living in A1, those serving the compound, the committee
        (
            notice(compound=True, buildings=(A1_PLACE,)),
            SERVING_A | {"owner_a11", "tenant_a12", "committee_c1", "admin"},
        ),
        # scheduled, or taken down: its editors only (its author is nobody here)
        (notice(compound=True, published=False), {"committee_c1", "admin"}),
        (notice(compound=True, withdrawn=True), {"committee_c1", "admin"}),
    ],
)
def test_who_reads_a_notice(facts: object, readers: set[str]) -> None:
    for name, who in PRINCIPALS.items():
        assert allows(who, Resource.NOTICE, Action.READ, facts) == (name in readers), name


def test_who_posts_and_manages_notices() -> None:
    compound_posters = {"chief_a", "committee_c1", "property_a", "owners_committee_a", "admin"}
    for name, who in PRINCIPALS.items():
        assert allows(who, Resource.COMPOUND, Action.PUBLISH_NOTICE, COMPOUND_A) == (
            name in compound_posters
        ), name
        community = PlaceFacts(community_id=C1)
        assert allows(who, Resource.COMMUNITY, Action.PUBLISH_NOTICE, community) == (
            name in {"committee_c1", "admin"}
        ), name
        for action in (Action.MANAGE_NOTICE, Action.READ_RECEIPTS):
            assert allows(who, Resource.NOTICE, action, notice(compound=True)) == (
                name in {"committee_c1", "admin"}
            ), (name, action)
    # its author manages a notice while they may post there, and no longer once they may not
    author = PRINCIPALS["property_a"]
    mine = notice(compound=True, published=False, author=author.person_id)  # type: ignore[union-attr]
    assert allows(author, Resource.NOTICE, Action.READ, mine)
    assert allows(author, Resource.NOTICE, Action.MANAGE_NOTICE, mine)
    assert not allows(PRINCIPALS["owners_committee_a"], Resource.NOTICE, Action.MANAGE_NOTICE, mine)
    replaced = person()  # the property company replaced: no role any more
    theirs = notice(compound=True, author=replaced.person_id)
    assert not allows(replaced, Resource.NOTICE, Action.MANAGE_NOTICE, theirs)
    assert not allows(replaced, Resource.NOTICE, Action.READ_RECEIPTS, theirs)
    # a community notice's author is its committee member: as such, and only as such
    community_notice = notice(compound=False, author=author.person_id)  # type: ignore[union-attr]
    assert not allows(author, Resource.NOTICE, Action.MANAGE_NOTICE, community_notice)


def test_who_may_upload_a_pdf_is_who_posts_notices() -> None:
    """`posts_notices` (a PDF is uploaded for a notice only) agrees with the posting rules."""
    from auth.policy import posts_notices

    for name, who in PRINCIPALS.items():
        somewhere = allows(who, Resource.COMPOUND, Action.PUBLISH_NOTICE, COMPOUND_A) or allows(
            who, Resource.COMMUNITY, Action.PUBLISH_NOTICE, PlaceFacts(community_id=C1)
        )
        assert posts_notices(who) == somewhere, name
