"""Content check of user text (titles, descriptions, comments) through WeChat `msgSecCheck` v2.

A mini-program that publishes what its users write must have the text checked first. The check is
made against the author's WeChat identity (openid), so the verdict takes the account's history into
account. What the verdict means here:

* ``pass`` — fine: the text is published (the checker answers None);
* ``risky`` — refused with a sentence the author can act on (`BadUserInputError`), nothing written;
* ``review`` — WeChat is unsure: the text is accepted but held for a person to review ("HELD");
* the check could not be made (no openid because the person logged in some other way, WeChat down,
  an error code, a timeout) — also "HELD": a resident's report is never lost because a service we
  depend on is unavailable.

The text itself is personal data and never appears in a log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.principal import PersonPrincipal, Principal
from auth.wechat import WeChatClient
from models.errors import BadUserInputError, QilijiaError
from models.person import Person
from models.task_rules import HELD

__all__ = ["HELD", "RISKY_MESSAGE", "ContentCheck", "make_content_check"]

log = logging.getLogger("qilijia.content")

RISKY_MESSAGE = "内容含有不适宜公开的信息，请修改后再提交。"
#: The whole check (token fetch included) may take this long before the text is held instead.
DEFAULT_TIMEOUT_SECONDS = 3.0

ContentCheck = Callable[..., Awaitable[str | None]]


def make_content_check(
    wechat: WeChatClient | None,
    sessions: async_sessionmaker[AsyncSession],
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ContentCheck | None:
    """The `Services.content_check` callable, or None when WeChat is not configured (no check)."""
    if wechat is None:
        return None

    async def openid_of(principal: Principal) -> str | None:
        if not isinstance(principal, PersonPrincipal):
            return None
        async with sessions() as session:
            return (
                await session.execute(sa.select(Person.wechat_openid).where(Person.id == principal.person_id))
            ).scalar()

    async def check(principal: Principal, text: str, *, field: str = "text") -> str | None:
        openid = await openid_of(principal)
        if not openid:
            log.info("content held for review: the author has no WeChat identity to check against")
            return HELD
        try:
            async with asyncio.timeout(timeout):
                suggest = await wechat.msg_sec_check(openid, text)
        except TimeoutError:
            log.warning("content held for review: WeChat msgSecCheck timed out after %ss", timeout)
            return HELD
        except QilijiaError as exc:
            log.warning(
                "content held for review: WeChat msgSecCheck failed (errcode %s)",
                getattr(exc, "wechat_errcode", None),
            )
            return HELD
        except Exception:  # a bug or an unforeseen failure: still never lose the resident's text
            log.exception("content held for review: WeChat msgSecCheck failed unexpectedly")
            return HELD
        if suggest == "risky":
            raise BadUserInputError(RISKY_MESSAGE, field=field)
        if suggest == "review":
            log.info("content held for review: WeChat msgSecCheck suggests review")
            return HELD
        return None

    return check
