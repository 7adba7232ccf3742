"""How much each caller may ask (DESIGN §7): a cost limit per query and a cost-weighted budget per
minute, by kind of principal, and a separate budget for the calls that reach WeChat.

The budgets live in a `limits` storage: Redis when `REDIS_URL` is set, so that every process and
worker draws on the same window, and process memory otherwise (`LocalWindows`: each process then
keeps its own).
A window is fixed (one counter per caller and minute), and a caller that goes on asking while
refused stays refused until the window turns. In memory every request moves it; in Redis a
process tells it every caller's reads together, in one pipeline every `Budget.FLUSH_SECONDS` (a
caller nearing the limit at once), and every write at once.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, parse
from limits.aio.storage import RedisStorage, Storage

from auth.principal import ApiClientPrincipal, PersonPrincipal, Principal
from models.background import repeating
from models.errors import BadUserInputError, RateLimitedError

log = logging.getLogger("qilijia.budget")


class Kind(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    CLIENT = "client"
    ANONYMOUS = "anonymous"


#: the most one query may cost (`schema.cost`): the home screen of a committee of four compounds
#: is some forty thousand; a page of 100 under a page of 100 under a page of 100 is a million
QUERY_LIMIT: dict[Kind, int] = {
    Kind.RESIDENT: 100_000,
    Kind.STAFF: 200_000,
    Kind.CLIENT: 200_000,
    Kind.ANONYMOUS: 100_000,
}
#: what each caller may spend per minute (an anonymous caller is counted by client address): a
#: screen every two seconds or so of the biggest kind, far more of the usual ones
PER_MINUTE: dict[Kind, int] = {
    Kind.RESIDENT: 2_000_000,
    Kind.STAFF: 6_000_000,
    Kind.CLIENT: 6_000_000,
    Kind.ANONYMOUS: 1_000_000,
}
#: mutations per minute, each aliased one counted: what a person typing can send, with room
WRITES_PER_MINUTE: dict[Kind, int] = {
    Kind.RESIDENT: 30,
    Kind.STAFF: 120,
    Kind.CLIENT: 60,
    Kind.ANONYMOUS: 20,
}
#: WeChat is asked at most this often per client address: its quota is the whole app's, and once
#: spent every resident is locked out (a malformed code never reaches it: `check_wechat_code`)
WECHAT_PER_ADDRESS = parse("30/minute")
#: codes WeChat refused, per client address: a client guessing codes is stopped before WeChat
WECHAT_FAILURES_PER_ADDRESS = parse("5/10minutes")


def kind(principal: Principal) -> Kind:
    if isinstance(principal, PersonPrincipal):
        return Kind.STAFF if principal.roles or principal.positions else Kind.RESIDENT
    if isinstance(principal, ApiClientPrincipal):
        return Kind.CLIENT
    return Kind.ANONYMOUS


def caller_key(principal: Principal, address: str) -> str:
    if isinstance(principal, PersonPrincipal):
        return f"person:{principal.person_id}"
    if isinstance(principal, ApiClientPrincipal):
        return f"client:{principal.client_id}"
    return f"address:{address}"


def client_address(request: object) -> str:
    """The address a request came from (uvicorn's `--proxy-headers` puts the real one here behind a
    trusted proxy)."""
    client = getattr(request, "client", None)
    return client.host if client is not None else "unknown"


def check_wechat_code(code: str) -> str:
    """A code from `wx.login` or `getPhoneNumber` is a short run of ASCII letters, digits, `-` or `_`
    (32 characters today): anything else is refused here, without spending WeChat's quota on it."""
    code = code.strip()
    bare = code.replace("-", "").replace("_", "")
    if not 0 < len(code) <= 128 or not (bare.isascii() and bare.isalnum()):
        raise BadUserInputError("微信登录凭证无效，请重新进入小程序后再试。", field="code")
    return code


class LocalWindows:
    """Fixed windows in this process's memory: the part of a `limits` storage the budget uses.

    `limits`' own memory storage walks every key it holds on each increment to expire old ones, so
    a request would cost time in proportion to the callers seen in the last minute — a city's
    worth. Here a window that has ended counts from zero when next touched, and ended windows are
    forgotten in one sweep a minute: a request costs the same whoever else asked."""

    SWEEP_SECONDS = 60.0

    def __init__(self) -> None:
        #: key → (count, when its window ends, `time.time()`)
        self.windows: dict[str, tuple[int, float]] = {}
        self.next_sweep = time.time() + self.SWEEP_SECONDS

    def _current(self, key: str, now: float) -> tuple[int, float] | None:
        found = self.windows.get(key)
        return found if found is not None and found[1] > now else None

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        if now >= self.next_sweep:
            self.windows = {k: w for k, w in self.windows.items() if w[1] > now}
            self.next_sweep = now + self.SWEEP_SECONDS
        count, ends = self._current(key, now) or (0, now + expiry)
        self.windows[key] = (count + amount, ends)
        return count + amount

    async def get(self, key: str) -> int:
        found = self._current(key, time.time())
        return found[0] if found is not None else 0

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        found = self._current(key, now)
        return found[1] if found is not None else now


@dataclass(frozen=True)
class Charge:
    """What a request cost and what is left of its caller's window (`extensions.cost`)."""

    requested: int
    limit: int
    remaining: int

    def as_extension(self) -> dict[str, int]:
        return {"requested": self.requested, "limit": self.limit, "remaining": self.remaining}


class Budget:
    """The rate windows of every caller, in one `limits` storage."""

    #: a shared storage is told every caller's reads together this often (seconds), and a caller's
    #: at once when they reach `FLUSH_SHARE` of its window: a round trip to Redis costs more CPU than
    #: the rest of a screen's budget, and a window of millions does not need every request's count
    FLUSH_SECONDS = 0.25
    FLUSH_SHARE = 0.02
    #: a shared count last read longer ago than this is not trusted for a caller who had spent
    #: half their window: the window may have turned, or other processes spent the rest
    TRUST_SECONDS = 1.0
    #: callers remembered per process; beyond this the memory is emptied (counts are re-read)
    MAX_CALLERS = 100_000

    def __init__(self, storage: Storage | LocalWindows, scale: float = 1.0, *, shared: bool = False) -> None:
        self.storage = storage
        #: whether other processes spend from the same storage (Redis): then reads are batched
        self.shared = shared
        #: reads spent here and not yet told, by window key
        self._pending: dict[str, tuple[RateLimitItem, int]] = {}
        #: the shared count of each caller's window as last told, and when
        self._known: dict[str, tuple[int, float]] = {}
        self.windows = {w: RateLimitItemPerMinute(round(n * scale)) for w, n in PER_MINUTE.items()}
        self.writes = {
            w: RateLimitItemPerMinute(max(1, round(n * scale))) for w, n in WRITES_PER_MINUTE.items()
        }

    @classmethod
    def for_url(cls, redis_url: str | None, scale: float = 1.0, prefix: str = "qilijia") -> Budget:
        if not redis_url:
            return cls(LocalWindows(), scale)
        uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
        return cls(RedisStorage(uri, implementation="redispy", key_prefix=prefix), scale, shared=True)

    async def charge(
        self, principal: Principal, address: str, limit: int, cost: int, writes: int = 0
    ) -> Charge:
        """Spend `cost` (and `writes`) from the caller's windows; RateLimitedError, with when to
        retry, past either."""
        who, key = kind(principal), caller_key(principal, address)
        if writes:
            item = self.writes[who]
            if await self._spend(item, writes, "writes", key) > item.amount:
                raise await self._refusal(item, "writes", key)
        item = self.windows[who]
        spent = await (
            self._batched(item, cost, item.key_for("cost", key))
            if self.shared and not writes
            else self._spend(item, cost, "cost", key)
        )
        if spent > item.amount:
            raise await self._refusal(item, "cost", key)
        return Charge(requested=cost, limit=limit, remaining=item.amount - spent)

    async def _batched(self, item: RateLimitItem, cost: int, window: str) -> int:
        """What the caller has spent, as far as this process knows: the shared count as last told,
        plus what this process spent since. Told at once only when that part is large, or when an
        old count says the caller was near the limit; otherwise with everyone's, by `flush`."""
        pending = self._pending.get(window, (item, 0))[1] + cost
        known, told_at = self._known.get(window, (0, 0.0))
        stale = time.monotonic() - told_at > self.TRUST_SECONDS
        if pending >= item.amount * self.FLUSH_SHARE or (stale and known >= item.amount // 2):
            self._pending.pop(window, None)
            spent = await self.storage.incr(window, item.get_expiry(), amount=pending)
            self._remember({window: spent})
            return spent
        if len(self._pending) >= self.MAX_CALLERS:
            await self.flush()
        self._pending[window] = (item, pending)
        return (0 if stale else known) + pending

    async def flush(self) -> int:
        """Tell the shared storage every caller's pending reads, in one round trip where the storage
        allows it; on failure keep them for the next try. Returns how many windows were told."""
        batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            counts = await _incr_all(self.storage, batch)
        except Exception:
            log.warning("budget: could not tell %d windows; retrying", len(batch), exc_info=True)
            for window, (item, amount) in batch.items():
                _, pending = self._pending.get(window, (item, 0))
                self._pending[window] = (item, pending + amount)
            return 0
        self._remember(counts)
        return len(counts)

    def _remember(self, counts: dict[str, int]) -> None:
        if len(self._known) + len(counts) > self.MAX_CALLERS:
            self._known.clear()
        now = time.monotonic()
        self._known.update((window, (spent, now)) for window, spent in counts.items())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While the server runs, tell a shared storage the reads every `FLUSH_SECONDS`, and once
        more when it stops; a storage of this process alone needs nothing."""
        if not self.shared:
            yield
            return
        async with repeating(self.flush, self.FLUSH_SECONDS, name="qilijia-budget", last=True):
            yield

    async def wechat_call(self, address: str) -> None:
        """Before asking WeChat about a code: refused when this address asked too often or sent
        too many codes WeChat refused."""
        failures = WECHAT_FAILURES_PER_ADDRESS
        key = failures.key_for("wechat-failed", address)
        if await self.storage.get(key) >= failures.amount:
            raise await self._refusal(failures, "wechat-failed", address)
        if await self._spend(WECHAT_PER_ADDRESS, 1, "wechat", address) > WECHAT_PER_ADDRESS.amount:
            raise await self._refusal(WECHAT_PER_ADDRESS, "wechat", address)

    async def wechat_refused(self, address: str) -> None:
        await self._spend(WECHAT_FAILURES_PER_ADDRESS, 1, "wechat-failed", address)

    async def _spend(self, item: RateLimitItem, cost: int, *ids: str) -> int:
        return await self.storage.incr(item.key_for(*ids), item.get_expiry(), amount=cost)

    async def _refusal(self, item: RateLimitItem, *ids: str) -> RateLimitedError:
        reset = await self.storage.get_expiry(item.key_for(*ids))
        return RateLimitedError(retry_after=max(1, math.ceil(reset - time.time())))


async def _incr_all(
    storage: Storage | LocalWindows, batch: dict[str, tuple[RateLimitItem, int]]
) -> dict[str, int]:
    """Every window of `batch` moved by its amount: through one Redis pipeline running the storage's
    own increment script (so the keys, prefix and expiry are exactly those of `storage.incr`), or
    one call per window for a storage without one."""
    bridge = getattr(storage, "bridge", None)
    script = getattr(bridge, "lua_incr_expire", None)
    if bridge is None or script is None:
        return {w: await storage.incr(w, item.get_expiry(), amount=n) for w, (item, n) in batch.items()}
    pipe = bridge.get_connection().pipeline(transaction=False)
    for window, (item, amount) in batch.items():
        await script(keys=[bridge.prefixed_key(window)], args=[item.get_expiry(), amount], client=pipe)
    counts = await pipe.execute()
    return {window: int(count) for window, count in zip(batch, counts, strict=True)}
