"""Correcting a person through the API (`updatePerson`): a name, a phone bound or changed, by the
staff answerable for the person's area; refused both ways for everyone else, with nothing written;
a phone another person holds is never taken over, not even by two staff at once."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from resolvers.ids import encode
from tests.conftest import Api, fetch, fetchval, person_id, token_for

# one database for the module: each test corrects a person of its own
pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN, CHIEF, GRID, COMMITTEE, STAFF, OWNERS_COMMITTEE = (
    "13800000000",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000005",
    "13800000006",
)
RESIDENT, TENANT, OUTSIDER, OTHER_COMMITTEE = "13800000007", "13800000008", "13800000011", "13800000014"
NOT_VISIBLE = "该内容不存在，或您没有查看权限。"

UPDATE = """mutation($input: UpdatePersonInput!) { updatePerson(input: $input) { id name phone } }"""
LOGIN = """mutation($phone: String!) { devLogin(phone: $phone) { me { person { name } } } }"""


async def resident(url: str, phone: str, name: str = "待更正") -> str:
    """A resident of 千山美林 6-1-101 (a tenant), made for one test: their global id."""
    made = await fetchval(url, "INSERT INTO person (name, phone) VALUES ($1, $2) RETURNING id", name, phone)
    await fetch(
        url,
        "INSERT INTO home (compound_id, household_id, person_id, relation) SELECT h.compound_id, h.id, $1,"
        " 'TENANT' FROM household h JOIN compound c ON c.id = h.compound_id"
        " WHERE c.key = 'qianshan-meilin' AND h.number = '6-1-101'",
        made,
    )
    return encode("Person", made)


def error(body: dict) -> tuple[str, str | None, str]:
    (first,) = body["errors"]
    return first["extensions"]["code"], first["extensions"].get("field"), first["message"]


@pytest.mark.parametrize(
    ("caller", "allowed"),
    [
        (ADMIN, True),
        (GRID, True),
        (COMMITTEE, True),
        (STAFF, True),
        (OWNERS_COMMITTEE, False),
        (CHIEF, False),
        (RESIDENT, False),
        (TENANT, False),
        (OUTSIDER, False),
        (OTHER_COMMITTEE, False),
    ],
)
async def test_who_may_correct_a_residents_name_and_phone(
    shared_api: Api, shared_demo_db_url: str, caller: str, allowed: bool
) -> None:
    api, url = shared_api, shared_demo_db_url
    phone, new_phone = f"1399998{caller[-4:]}", f"1399997{caller[-4:]}"
    target = await resident(url, phone)
    ident = uuid.UUID(str(await person_id(url, phone)))
    body = await api.gql(
        UPDATE,
        {"input": {"personId": target, "name": "李更正", "phone": new_phone}},
        token=await token_for(url, caller),
    )
    stored = (await fetch(url, "SELECT name, phone FROM person WHERE id = $1", ident))[0]
    records = await fetchval(
        url,
        "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'MANAGE_PERSON'"
        " AND payload::jsonb->>'object_id' = $1",
        str(ident),
    )
    if allowed:
        assert "errors" not in body, body
        assert body["data"]["updatePerson"] == {"id": target, "name": "李更正", "phone": new_phone}
        assert (stored["name"], stored["phone"]) == ("李更正", new_phone)
        assert records == 1
        detail = await fetchval(
            url,
            "SELECT payload::jsonb->'detail'->>'changed' FROM audit_record"
            " WHERE payload::jsonb->>'object_id' = $1",
            str(ident),
        )
        assert detail == '["name", "phone"]'  # which fields, never their values
    else:
        code, _, said = error(body)
        assert code == "FORBIDDEN"
        assert (stored["name"], stored["phone"]) == ("待更正", phone)
        assert records == 0
        if caller == OWNERS_COMMITTEE:  # sees the compound's households and who lives there
            assert said != NOT_VISIBLE and "更正" in said
        else:
            assert said == NOT_VISIBLE  # may not see the person at all: not told they exist


async def test_a_person_does_not_correct_their_own_record(shared_api: Api, shared_demo_db_url: str) -> None:
    """Residents see their own name and phone, but a correction goes through the staff (a claim to
    a home carries the name a newcomer gives)."""
    api, url = shared_api, shared_demo_db_url
    target = await resident(url, "13999950007")
    body = await api.gql(
        UPDATE, {"input": {"personId": target, "name": "自己改"}}, token=await token_for(url, "13999950007")
    )
    code, _, said = error(body)
    assert code == "FORBIDDEN" and said != NOT_VISIBLE
    assert await fetchval(url, "SELECT name FROM person WHERE phone = '13999950007'") == "待更正"


async def test_someone_nobody_may_see_is_refused_as_if_absent(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await token_for(url, GRID)
    outsider = encode("Person", await person_id(url, OUTSIDER))  # of another grid
    missing = encode("Person", uuid.uuid4())
    answers = [
        error(await api.gql(UPDATE, {"input": {"personId": p, "name": "改名"}}, token=token))
        for p in (outsider, missing)
    ]
    assert answers[0] == answers[1] == ("FORBIDDEN", None, NOT_VISIBLE)
    assert await fetchval(url, "SELECT name FROM person WHERE phone = $1", OUTSIDER) != "改名"


BAD = [
    ({}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "名" * 51}, "name"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "23800000000"}, "phone"),
    ({"name": "待更正"}, "name"),  # nothing would change
]


@pytest.mark.parametrize("case", range(len(BAD)))
async def test_bad_input_names_its_field_and_writes_nothing(
    shared_api: Api, shared_demo_db_url: str, case: int
) -> None:
    api, url = shared_api, shared_demo_db_url
    change, field = BAD[case]
    phone = f"139999600{case:02d}"
    target = await resident(url, phone)
    body = await api.gql(UPDATE, {"input": {"personId": target, **change}}, token=await token_for(url, GRID))
    code, named, said = error(body)
    assert (code, named) == ("BAD_USER_INPUT", field), body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in said)
    stored = (await fetch(url, "SELECT name, phone FROM person WHERE phone = $1", phone))[0]
    assert (stored["name"], stored["phone"]) == ("待更正", phone)


async def test_a_phone_someone_else_holds_is_refused_masked(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await resident(url, "13999950001")
    body = await api.gql(
        UPDATE, {"input": {"personId": target, "phone": RESIDENT}}, token=await token_for(url, COMMITTEE)
    )
    code, _, said = error(body)
    assert code == "CONFLICT" and "138****0007" in said and RESIDENT not in said
    assert await fetchval(url, "SELECT count(*) FROM person WHERE phone = $1", RESIDENT) == 1


async def test_a_changed_phone_is_the_persons_login_from_then_on(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await resident(url, "13999950002", name="张换号")
    done = await api.gql(
        UPDATE, {"input": {"personId": target, "phone": "13999950003"}}, token=await token_for(url, STAFF)
    )
    assert "errors" not in done, done
    assert (await api.data(LOGIN, {"phone": "13999950003"}))["devLogin"]["me"]["person"]["name"] == "张换号"
    assert error(await api.gql(LOGIN, {"phone": "13999950002"}))[:2] == ("BAD_USER_INPUT", "phone")


async def test_two_staff_giving_one_new_phone_to_two_people_at_once(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    first, second = await resident(url, "13999950004"), await resident(url, "13999950005")
    grid, committee = await token_for(url, GRID), await token_for(url, COMMITTEE)
    answers = await asyncio.gather(
        api.gql(UPDATE, {"input": {"personId": first, "phone": "13999950006"}}, token=grid),
        api.gql(UPDATE, {"input": {"personId": second, "phone": "13999950006"}}, token=committee),
    )
    codes = sorted("ok" if "errors" not in a else error(a)[0] for a in answers)
    assert codes == ["CONFLICT", "ok"], answers
    assert await fetchval(url, "SELECT count(*) FROM person WHERE phone = '13999950006'") == 1
    # the refused one kept their phone
    assert (
        await fetchval(url, "SELECT count(*) FROM person WHERE phone IN ('13999950004', '13999950005')") == 1
    )


@pytest.mark.parametrize(
    ("caller", "allowed"), [(GRID, False), (COMMITTEE, False), (STAFF, False), (ADMIN, True)]
)
async def test_an_office_holders_phone_is_changed_by_an_admin_only(
    shared_api: Api, shared_demo_db_url: str, caller: str, allowed: bool
) -> None:
    """A phone is a way into an account (a WeChat login binds to it): the staff of an area correct
    their residents, but someone who holds a role or a team position is corrected by an operator."""
    api, url = shared_api, shared_demo_db_url
    phone = f"1399993{caller[-4:]}"
    target = await resident(url, phone)
    await fetch(
        url,
        "INSERT INTO role_assignment (person_id, role, compound_id)"
        " SELECT p.id, 'PARTY_MEMBER', c.id FROM person p, compound c WHERE p.phone = $1 AND c.key = 'qianshan-meilin'",
        phone,
    )
    body = await api.gql(
        UPDATE,
        {"input": {"personId": target, "phone": f"1399992{caller[-4:]}"}},
        token=await token_for(url, caller),
    )
    if allowed:
        assert "errors" not in body, body
    else:
        code, _, said = error(body)
        assert code == "FORBIDDEN" and "管理员" in said  # they see the person: told why, and whom to ask
        assert await fetchval(url, "SELECT count(*) FROM person WHERE phone = $1", phone) == 1
