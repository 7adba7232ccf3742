"""The language the access policy is written in: conditions over (who asks, an object).

A condition has two readings that must agree row for row:

* `holds(who, facts)` decides for one object given as plain data (`auth.facts`): the pure check
  that mutations make on the row they have locked, and that tests make by the thousand;
* `sql(who, row)` is the same condition as a SQL boolean over a row of the object's table
  (`auth.bindings`), so that a list is filtered, and a field masked, inside PostgreSQL.

Conditions name the object's attributes (`compound_id`, `reporter_id`, `workers`); both readings
look the attribute up by that name, in the facts dataclass and in the row's binding, and
`auth.policy` checks at import that every name a rule uses exists in both.

    Admin, ApiClient       who is asking, whatever the object
    In(attr, scope)        the object's place id is one of the caller's `Scope` ids
    IsMe(attr)             the object's person id is the caller's
    MeIn(attr)             the caller is among the object's people (its assignees, its owners)
    OneOf(attr, values)    the object's attribute has one of these constant values
    Some(attr, cond)       some object of a collection (a person's homes, their tasks) satisfies cond
    Allowed(name, cond)    another rule of the policy, by reference
    a | b, a & b, ~a       and constant folding, so that a caller with no grant costs nothing
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement, False_, True_

from auth.principal import ApiClientPrincipal, PersonPrincipal, Principal, Scope

SqlBool = ColumnElement[bool]


class Row(Protocol):
    """A row of an object's table as the policy sees it (implemented by `auth.bindings`)."""

    def col(self, attr: str) -> ColumnElement[Any]: ...

    def place_in(self, attr: str, ids: Any) -> SqlBool: ...

    def has(self, attr: str, person_id: Any) -> SqlBool: ...

    def some(self, attr: str, where: Callable[[Row], SqlBool]) -> SqlBool: ...


TRUE: SqlBool = sa.true()
FALSE: SqlBool = sa.false()

#: The caller's person id and scopes enter SQL as named parameters, never as literals: a rule
#: compiles to the same SQL for every caller of the same shape (`shape`), so the compiled form is
#: built once and cached, and the values are given when a statement runs (`params`).
ME = sa.bindparam("policy_me", type_=sa.Uuid, value=None, required=False)
_SCOPE_PARAMS = {
    scope: sa.bindparam(f"policy_{scope.value.lower()}", type_=ARRAY(sa.Uuid), value=None, required=False)
    for scope in Scope
}


def scope_param(scope: Scope) -> Any:
    return _SCOPE_PARAMS[scope]


def shape(who: Principal) -> tuple[Any, ...]:
    """What a rule's SQL depends on: the kind of caller, whether an operator, which scopes hold
    any place. Callers of one shape share compiled rules."""
    if isinstance(who, PersonPrincipal):
        return ("person", who.is_admin, who.scopes_held)
    return (type(who).__name__,)


def params(who: Principal) -> dict[str, Any]:
    """The values of the caller's parameters, for every statement a rule's SQL is part of."""
    if not isinstance(who, PersonPrincipal):
        return {ME.key: None}  # "mine" is nobody's: no sign-up, no ballot, no home matches it
    values: dict[str, Any] = {ME.key: who.person_id}
    for scope, param in _SCOPE_PARAMS.items():
        ids = who.ids(scope)
        if ids:
            values[param.key] = sorted(ids)
    return values


def is_true(clause: SqlBool) -> bool:
    return isinstance(clause, True_)


def is_false(clause: SqlBool) -> bool:
    return isinstance(clause, False_)


def any_of(clauses: Iterable[SqlBool]) -> SqlBool:
    kept = []
    for clause in clauses:
        if is_true(clause):
            return TRUE
        if not is_false(clause):
            kept.append(clause)
    if not kept:
        return FALSE
    return kept[0] if len(kept) == 1 else sa.or_(*kept)


def all_of(clauses: Iterable[SqlBool]) -> SqlBool:
    kept = []
    for clause in clauses:
        if is_false(clause):
            return FALSE
        if not is_true(clause):
            kept.append(clause)
    if not kept:
        return TRUE
    return kept[0] if len(kept) == 1 else sa.and_(*kept)


def _person_id(who: Principal) -> Any:
    return who.person_id if isinstance(who, PersonPrincipal) else None


class Cond(ABC):
    @abstractmethod
    def holds(self, who: Principal, facts: Any) -> bool: ...

    @abstractmethod
    def sql(self, who: Principal, row: Row) -> SqlBool: ...

    @abstractmethod
    def attrs(self) -> Iterator[tuple[str, ...]]:
        """The attribute paths the condition reads: (`compound_id`,), (`homes`, `household_id`)."""

    def __or__(self, other: Cond) -> Cond:
        return Or((self, other))

    def __and__(self, other: Cond) -> Cond:
        return And((self, other))

    def __invert__(self) -> Cond:
        return Not(self)


@dataclass(frozen=True)
class Const(Cond):
    value: bool

    def holds(self, who: Principal, facts: Any) -> bool:
        return self.value

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return TRUE if self.value else FALSE

    def attrs(self) -> Iterator[tuple[str, ...]]:
        return iter(())


ALWAYS = Const(True)
NEVER = Const(False)


@dataclass(frozen=True)
class Admin(Cond):
    """A platform operator: holds everywhere."""

    def holds(self, who: Principal, facts: Any) -> bool:
        return isinstance(who, PersonPrincipal) and who.is_admin

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return TRUE if self.holds(who, None) else FALSE

    def attrs(self) -> Iterator[tuple[str, ...]]:
        return iter(())


@dataclass(frozen=True)
class ApiClient(Cond):
    """A third-party system with an API key."""

    def holds(self, who: Principal, facts: Any) -> bool:
        return isinstance(who, ApiClientPrincipal)

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return TRUE if self.holds(who, None) else FALSE

    def attrs(self) -> Iterator[tuple[str, ...]]:
        return iter(())


def _ids(who: Principal, scope: Scope) -> frozenset[Any]:
    return who.ids(scope) if isinstance(who, PersonPrincipal) else frozenset()


@dataclass(frozen=True)
class In(Cond):
    attr: str
    scope: Scope

    def holds(self, who: Principal, facts: Any) -> bool:
        value = getattr(facts, self.attr)
        return value is not None and value in _ids(who, self.scope)

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return row.place_in(self.attr, scope_param(self.scope)) if _ids(who, self.scope) else FALSE

    def attrs(self) -> Iterator[tuple[str, ...]]:
        yield (self.attr,)


@dataclass(frozen=True)
class IsMe(Cond):
    attr: str

    def holds(self, who: Principal, facts: Any) -> bool:
        me = _person_id(who)
        return me is not None and getattr(facts, self.attr) == me

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return FALSE if _person_id(who) is None else row.col(self.attr) == ME

    def attrs(self) -> Iterator[tuple[str, ...]]:
        yield (self.attr,)


@dataclass(frozen=True)
class MeIn(Cond):
    attr: str

    def holds(self, who: Principal, facts: Any) -> bool:
        me = _person_id(who)
        return me is not None and me in getattr(facts, self.attr)

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return FALSE if _person_id(who) is None else row.has(self.attr, ME)

    def attrs(self) -> Iterator[tuple[str, ...]]:
        yield (self.attr,)


@dataclass(frozen=True)
class OneOf(Cond):
    attr: str
    values: frozenset[Any]

    def holds(self, who: Principal, facts: Any) -> bool:
        value = getattr(facts, self.attr)  # SQL's NULL is one of nothing: `NULL IN (…)` is not true
        return value is not None and value in self.values

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return row.col(self.attr).in_(sorted(v for v in self.values if v is not None))

    def attrs(self) -> Iterator[tuple[str, ...]]:
        yield (self.attr,)


@dataclass(frozen=True)
class Some(Cond):
    attr: str
    cond: Cond

    def holds(self, who: Principal, facts: Any) -> bool:
        return any(self.cond.holds(who, element) for element in getattr(facts, self.attr))

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return row.some(self.attr, lambda element: self.cond.sql(who, element))

    def attrs(self) -> Iterator[tuple[str, ...]]:
        yield (self.attr,)
        for path in self.cond.attrs():
            yield (self.attr, *path)


@dataclass(frozen=True)
class Allowed(Cond):
    """Another rule of the policy, looked up when used (the table is written after its parts)."""

    name: str
    lookup: Callable[[], Cond]

    def holds(self, who: Principal, facts: Any) -> bool:
        return self.lookup().holds(who, facts)

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return self.lookup().sql(who, row)

    def attrs(self) -> Iterator[tuple[str, ...]]:
        return self.lookup().attrs()


@dataclass(frozen=True)
class Or(Cond):
    parts: tuple[Cond, ...]

    def holds(self, who: Principal, facts: Any) -> bool:
        return any(part.holds(who, facts) for part in self.parts)

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return any_of(part.sql(who, row) for part in self.parts)

    def attrs(self) -> Iterator[tuple[str, ...]]:
        for part in self.parts:
            yield from part.attrs()

    def __or__(self, other: Cond) -> Cond:
        return Or((*self.parts, other))


@dataclass(frozen=True)
class And(Cond):
    parts: tuple[Cond, ...]

    def holds(self, who: Principal, facts: Any) -> bool:
        return all(part.holds(who, facts) for part in self.parts)

    def sql(self, who: Principal, row: Row) -> SqlBool:
        return all_of(part.sql(who, row) for part in self.parts)

    def attrs(self) -> Iterator[tuple[str, ...]]:
        for part in self.parts:
            yield from part.attrs()

    def __and__(self, other: Cond) -> Cond:
        return And((*self.parts, other))


@dataclass(frozen=True)
class Not(Cond):
    part: Cond

    def holds(self, who: Principal, facts: Any) -> bool:
        return not self.part.holds(who, facts)

    def sql(self, who: Principal, row: Row) -> SqlBool:
        inner = self.part.sql(who, row)
        if is_true(inner):
            return FALSE
        if is_false(inner):
            return TRUE
        # SQL's NULL (a NULL place id, no assigned role) is Python's False: NOT NULL must be true
        return sa.not_(sa.func.coalesce(inner, FALSE))

    def attrs(self) -> Iterator[tuple[str, ...]]:
        return self.part.attrs()


def either(*parts: Cond) -> Cond:
    return Or(tuple(parts))


def both(*parts: Cond) -> Cond:
    return And(tuple(parts))
