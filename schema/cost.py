"""What a query costs, estimated before it runs (DESIGN §7): the objects it may return.

Every object counts 1, as many times as the lists above it may repeat it: a connection as often as
its `first` or `last` (default 20, at most 100), a plain list as `LIST_ESTIMATE`, so `first: 100`
under `first: 100` under `first: 100` is a million and refused, whatever the data holds today. A
field whose resolver leaves PostgreSQL (WeChat, a receipt's proofs) adds its weight, every mutation
field adds `MUTATION_WEIGHT`, so ten aliased mutations cost ten times one, and every `totalCount`
adds `COUNT_WEIGHT`. Other scalars are free: their number is bounded by the document limits
(`schema.limits`), which run first, so that the tree walked here has at most `MAX_FIELDS` fields.

Over the caller's limit (`auth.budget.QUERY_LIMIT`) a request is refused with `QUERY_TOO_COMPLEX`
and runs no SQL; otherwise its cost is spent from the caller's rate window, and every response
carries `extensions.cost`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
)
from strawberry.extensions import SchemaExtension

from auth.budget import PER_MINUTE, QUERY_LIMIT, Budget, Charge, client_address, kind
from auth.policy import Field, Resource
from auth.principal import Principal
from models.errors import QilijiaError, QueryTooComplexError
from resolvers.audit import Reveals
from resolvers.ids import DEFAULT_PAGE, MAX_PAGE
from schema.errors import TOO_COMPLEX_MESSAGE, refusal

#: what a list that is not a connection is taken to hold, by (type, field): generous for what
#: the world holds (a flat has one to three owners), and `LIST_ESTIMATE` for any other
LISTS: Mapping[tuple[str, str], int] = {
    ("Household", "owners"): 4,
    ("Household", "occupants"): 6,
    ("Task", "assignees"): 5,
    ("Task", "parties"): 4,
    ("Task", "mediators"): 4,
    ("Task", "meetings"): 5,
    ("Task", "volunteerCalls"): 5,
    ("Task", "disclosures"): 5,
    ("Meeting", "attendees"): 30,
    ("VolunteerCall", "signups"): 30,
    ("Compound", "team"): 20,
    ("Vote", "myBallot"): 3,
    ("CostDisclosure", "lineItems"): 20,
    ("HouseholdProof", "steps"): 20,
}
LIST_ESTIMATE = 10
#: a connection's `totalCount`: a count over the list's index, however long the list
COUNT_WEIGHT = 20
#: every mutation: a write, its event and what it notifies
MUTATION_WEIGHT = 10
#: fields whose resolver leaves PostgreSQL or does real work in Python, by (type, field)
WEIGHTS: Mapping[tuple[str, str], int] = {
    ("Mutation", "wechatLogin"): 50,  # WeChat's code2Session
    ("Mutation", "bindPhone"): 50,  # WeChat's phone number
    ("Mutation", "reportTask"): 20,  # WeChat's content check
    ("Mutation", "commentTask"): 20,
    ("Query", "verifyReceipt"): 50,  # Merkle proofs over the vote's ballots
    # a workbook and a PDF rendered per employer's Party organisation
    ("Mutation", "exportEvaluations"): 100,
}


#: fields whose reading the audit trail may have to record (`auth.policy.Shown.recorded`)
RECORDED: Mapping[tuple[str, str], tuple[Resource, Field]] = {
    ("Person", "phone"): (Resource.PERSON, Field.PHONE),
    # a claimant's phone, read by those who decide on the claim
    ("HomeClaim", "phone"): (Resource.PERSON, Field.PHONE),
    # Party data read by the community committee (PIPL art. 28: sensitive)
    ("PartyInfo", "workUnit"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyInfo", "registeredOn"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyRegistration", "employer"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyRegistration", "partyOrganization"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyRegistration", "partyOrganizationContact"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyRegistration", "memberSince"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyRegistration", "skills"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyRegistration", "services"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyGroup", "members"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("Query", "participationRecord"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("ParticipationEntry", "kind"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("ParticipationEntry", "hours"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("ParticipationEntry", "points"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyEvaluation", "grade"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("PartyEvaluation", "comment"): (Resource.PERSON, Field.PARTY_DETAIL),
    ("Query", "partyEvaluations"): (Resource.PERSON, Field.PARTY_DETAIL),
}


class _Estimate:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults: dict[str, Any] = {}
        self.spreading: set[str] = set()
        self.writes = 0
        self.recorded: set[tuple[Resource, Field]] = set()

    def selections(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                total += self.selections(
                    selection.selection_set,
                    self.schema.get_type(condition.name.value) if condition else parent,
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                found = self.fragments.get(name)
                if found is not None and name not in self.spreading:
                    self.spreading.add(name)
                    total += self.selections(
                        found.selection_set, self.schema.get_type(found.type_condition.name.value)
                    )
                    self.spreading.discard(name)
        return total

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0  # introspection: bounded by the schema, and guarded in prod
        definition = _field(parent, name)
        if definition is None:
            return 0  # validation names the mistake
        weight = WEIGHTS.get((parent.name, name), 0) if parent is not None else 0
        if name == "totalCount" and parent is not None and parent.name.endswith("Connection"):
            weight += COUNT_WEIGHT
        if parent is not None and (parent.name, name) in RECORDED:
            self.recorded.add(RECORDED[(parent.name, name)])
        if parent is not None and parent is self.schema.mutation_type:
            self.writes += 1  # a mutation field, however it is spread into the operation
            weight += MUTATION_WEIGHT
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return weight
        below = self.selections(node.selection_set, named)
        if named.name.endswith("Connection") and ("first" in definition.args or "last" in definition.args):
            # `edges` and `node` inside count their objects, once per row; its own count once (in a
            # fragment it is priced per row: more, never less)
            own = node.selection_set.selections if node.selection_set else ()
            once = COUNT_WEIGHT * sum(isinstance(f, FieldNode) and f.name.value == "totalCount" for f in own)
            return weight + 1 + self.page(node) * (below - once) + once
        if isinstance(get_nullable_type(definition.type), GraphQLList) and not parent.name.endswith(
            "Connection"
        ):
            return weight + LISTS.get((parent.name, name), LIST_ESTIMATE) * (1 + below)
        if name in ("edges", "pageInfo") and parent.name.endswith("Connection"):
            return weight + below  # one per object, multiplied by the connection's page above
        return weight + 1 + below

    def page(self, node: FieldNode) -> int:
        for argument in node.arguments or ():  # `first` or, reading backward, `last`
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                first: Any = int(value.value)
            elif isinstance(value, VariableNode):
                first = self.variables.get(value.name.value, self.defaults.get(value.name.value))
            else:
                first = None
            if isinstance(first, int) and not isinstance(first, bool):
                return min(max(first, 0), MAX_PAGE)
        return DEFAULT_PAGE


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    fields = getattr(parent, "fields", None)
    return fields.get(name) if fields else None


@dataclass(frozen=True)
class Estimate:
    """What an operation may cost (objects, with weights) and how many writes it asks for."""

    cost: int
    writes: int = 0
    #: what of `RECORDED` the operation reads
    recorded: frozenset[tuple[Resource, Field]] = frozenset()


def estimate(
    schema: GraphQLSchema, document: DocumentNode, operation: str | None, variables: Mapping[str, Any] | None
) -> Estimate:
    """The estimate of the operation that would run (the named one, or the only one); cost ≥ 1."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        o for o in operations if operation is None or (o.name is not None and o.name.value == operation)
    ]
    if len(chosen) != 1:
        return Estimate(1)  # no operation to run: strawberry answers with the error
    definition = chosen[0]
    walker = _Estimate(schema, document, variables or {})
    for declared in definition.variable_definitions or ():
        if isinstance(declared.default_value, IntValueNode):
            walker.defaults[declared.variable.name.value] = int(declared.default_value.value)
    root: GraphQLObjectType | None = schema.get_root_type(definition.operation)
    total = walker.selections(definition.selection_set, root)
    return Estimate(max(total, 1), walker.writes, frozenset(walker.recorded))


#: where a request's charge is kept once paid (the ASGI scope), so that strawberry, answering a
#: request the compiled path gave up on, does not charge it twice
CHARGED = "qilijia.charge"
_PRICES: dict[tuple[Any, ...], Estimate] = {}


def priced(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation: str | None,
    variables: Mapping[str, Any],
) -> int:
    """`estimate`, remembered per (text, operation, integer variables): the same screens all day."""
    key = (query, operation, tuple(sorted((k, v) for k, v in variables.items() if type(v) is int)))
    found = _PRICES.get(key)
    if found is None:
        if len(_PRICES) >= 2_000:
            _PRICES.clear()
        found = _PRICES[key] = estimate(schema, document, operation, variables)
    return found


async def pay(
    budget: Budget | None,
    principal: Principal,
    request: Any,
    estimated: Estimate,
    *,
    reveals: Reveals | None = None,
    operation: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Charge:
    """Refuse a request over its caller's limit (`QUERY_TOO_COMPLEX`), else spend its cost from the
    caller's window (`RATE_LIMITED` past it), and, when it reads fields the audit trail records
    for this caller, note it in `reveals`. Paid once per request."""
    scope = getattr(request, "scope", None)
    if scope is not None and CHARGED in scope:
        return scope[CHARGED]
    limit, cost = QUERY_LIMIT[kind(principal)], estimated.cost
    if cost > limit:
        raise QueryTooComplexError(TOO_COMPLEX_MESSAGE, cost=cost, limit=limit)
    if budget is None:
        charge = Charge(cost, limit, PER_MINUTE[kind(principal)])
    else:
        charge = await budget.charge(
            principal, client_address(request), limit, estimated.cost, estimated.writes
        )
    if scope is not None:
        scope[CHARGED] = charge
    if reveals is not None and estimated.recorded:
        reveals.note(principal, client_address(request), estimated.recorded, operation, variables)
    return charge


class CostLimit(SchemaExtension):
    """Behind the document limits and validation: estimate, refuse over the caller's limit, spend
    from the caller's window, and report `extensions.cost`."""

    charge: Charge | None = None

    async def on_validate(self) -> AsyncIterator[None]:
        # before strawberry's own check of `pre_execution_errors`, which `DocumentLimits` (listed
        # first) has filled with the validation's result
        await self._pay()
        yield

    async def _pay(self) -> None:
        execution = self.execution_context
        if execution.pre_execution_errors or execution.graphql_document is None or execution.query is None:
            return
        context = execution.context
        estimated = priced(
            execution.schema._schema,
            execution.query,
            execution.graphql_document,
            execution.operation_name,
            execution.variables or {},
        )
        try:
            self.charge = await pay(
                getattr(context.services, "budget", None),
                context.principal,
                context.request,
                estimated,
                reveals=getattr(context.services, "reveals", None),
                operation=execution.operation_name,
                variables=execution.variables,
            )
        except QilijiaError as refused:
            # a RATE_LIMITED error makes the response 429 with Retry-After (`QilijiaSchema`)
            execution.pre_execution_errors = [refusal(refused)]

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.charge.as_extension()} if self.charge is not None else {}
