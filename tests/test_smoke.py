"""The demo world answers the first screen of the mini-program."""

from __future__ import annotations

from tests.conftest import Api, token_for


async def test_resident_sees_own_home(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, "13800000007")
    data = await api.data(
        "{ me { person { name phone } households { relation household { number area building { name } } } } }",
        token=token,
    )
    homes = data["me"]["households"]
    assert [(h["relation"], h["household"]["number"], h["household"]["building"]["name"]) for h in homes] == [
        ("OWNER", "6-1-302", "6栋")
    ]
    assert data["me"]["person"]["phone"] == "13800000007"
