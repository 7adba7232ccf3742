"""The access policy: DESIGN §5 declared once, deny by default.

`POLICY[(resource, action)]` is a condition (`auth.rules`) over the caller and the object, written
with the relations below (a resident of the object's compound, the grid worker of its grid, the
task's reporter, an owner in the vote's frozen electorate, …), and the sentence a caller who may
see the object is told when it denies. `FIELDS[(resource, field)]` says who sees a field in full,
who sees it masked, and nobody else sees it at all.

From that one declaration come:

* `allows` / `require`: the check of one object given as facts (`auth.facts`);
* `where`: the same rule as a SQL condition over a table's rows, for any list of them;
* `shown` / `shown_sql`: a field as the caller may see it, in Python or as a SQL expression.

Nothing outside this package decides who may see or do what. SQL from here carries the caller's
ids as parameters: run every statement that contains it with `params(who)`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, is_dataclass
from enum import StrEnum
from typing import Any, get_args, get_type_hints

import sqlalchemy as sa
from sqlalchemy.sql import FromClause
from sqlmodel import SQLModel

from auth import masking
from auth.bindings import BINDINGS, Binding, light
from auth.facts import NO_FACTS, PlaceFacts, TaskFacts, Tie
from auth.principal import ANONYMOUS, AnonymousPrincipal, PersonPrincipal, Principal, Scope
from auth.rules import (
    ALWAYS,
    FALSE,
    ME,
    NEVER,
    Admin,
    Allowed,
    ApiClient,
    Cond,
    In,
    IsMe,
    MeIn,
    OneOf,
    Some,
    SqlBool,
    either,
    is_false,
    is_true,
    params,
    shape,
)
from models.enums import ROLE_SCOPE, Role
from models.errors import ForbiddenError, UnauthenticatedError
from models.task import ModerationDecision, Task
from models.task_rules import (
    HELD,
    REMOVED,
    EventKind,
    Moderation,
    Standing,
    TaskAction,
    TaskKind,
    TaskVisibility,
)
from models.vote_rules import VoteStatus


class Resource(StrEnum):
    DISTRICT = "DISTRICT"
    STREET = "STREET"
    COMMUNITY = "COMMUNITY"
    GRID = "GRID"
    COMPOUND = "COMPOUND"
    BUILDING = "BUILDING"
    HOUSEHOLD = "HOUSEHOLD"
    PERSON = "PERSON"
    #: a task and everything shown with it: timeline, meetings, volunteer calls, disclosures
    TASK = "TASK"
    VOTE = "VOTE"
    #: one household of a vote's frozen electorate
    ELECTOR = "ELECTOR"
    #: a resident's claim to a home, waiting for the staff who keep the register
    HOME_CLAIM = "HOME_CLAIM"
    #: a Party member's registration (报到) with their compound: sensitive (DESIGN §5)
    PARTY_REGISTRATION = "PARTY_REGISTRATION"
    #: a building group of a compound's registered Party members
    PARTY_GROUP = "PARTY_GROUP"
    #: a Party member's evaluation for a period (评价鉴定): sensitive
    PARTY_EVALUATION = "PARTY_EVALUATION"
    #: a notice (公告) posted to a community, a compound or some of its buildings
    NOTICE = "NOTICE"
    SCHEMA = "SCHEMA"


class Action(StrEnum):
    READ = "READ"
    # compounds
    READ_TEAM = "READ_TEAM"
    READ_STATS = "READ_STATS"
    READ_TASK_STATS = "READ_TASK_STATS"
    #: a community's audit trail
    READ_AUDIT = "READ_AUDIT"
    REPORT_TASK = "REPORT_TASK"
    CREATE_PROJECT = "CREATE_PROJECT"
    OPEN_VOTE = "OPEN_VOTE"
    #: record a new version of the compound's rules of procedure (议事规则)
    SET_PROCEDURE = "SET_PROCEDURE"
    #: appoint a written proxy (an owner of the compound), or revoke one's own
    APPOINT_PROXY = "APPOINT_PROXY"
    #: check an owner's written proxy (its signed 委托书), and list those of the compound
    VERIFY_PROXY = "VERIFY_PROXY"
    # tasks
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    START = "START"
    RESOLVE = "RESOLVE"
    REOPEN = "REOPEN"
    RATE = "RATE"
    #: a report taken back by its reporter before it is accepted
    RETRACT = "RETRACT"
    #: correct a task's title, description or category
    EDIT = "EDIT"
    COMMENT = "COMMENT"
    ASSIGN = "ASSIGN"
    SCHEDULE_MEETING = "SCHEDULE_MEETING"
    RECORD_DECISIONS = "RECORD_DECISIONS"
    OPEN_VOLUNTEER_CALL = "OPEN_VOLUNTEER_CALL"
    READ_ROSTER = "READ_ROSTER"
    CHECK_IN = "CHECK_IN"
    SIGN_UP = "SIGN_UP"
    WITHDRAW = "WITHDRAW"
    PUBLISH_DISCLOSURE = "PUBLISH_DISCLOSURE"
    #: approve or remove text held for review
    MODERATE = "MODERATE"
    ASSIGN_MEDIATOR = "ASSIGN_MEDIATOR"
    RECORD_OUTCOME = "RECORD_OUTCOME"
    # votes
    READ_ELECTORATE = "READ_ELECTORATE"
    READ_TURNOUT = "READ_TURNOUT"
    READ_CHOICE = "READ_CHOICE"
    CAST = "CAST"
    CLOSE = "CLOSE"
    CANCEL = "CANCEL"
    EXTEND = "EXTEND"
    #: enter and confirm paper ballots, list them, and read any household's ballot history (never
    #: a choice)
    ENTER_PAPER_BALLOTS = "ENTER_PAPER_BALLOTS"
    #: object to a closed vote's published result, within its objection window
    OBJECT = "OBJECT"
    #: record an affected household's consent to works: an owner of it, or the committees
    CONSENT = "CONSENT"
    #: read a vote's published owner roll (names masked)
    READ_ROLL = "READ_ROLL"
    #: object to one's own entry of an announced vote's owner roll
    OBJECT_TO_ROLL = "OBJECT_TO_ROLL"
    #: answer (and settle) owners' objections to a result, and read them all
    ANSWER_OBJECTIONS = "ANSWER_OBJECTIONS"
    # people, homes and teams (households, compounds, grids, communities)
    #: add and end homes, record a sale, confirm a resident's claim, mark a household vacant
    MANAGE_HOMES = "MANAGE_HOMES"
    #: correct a person's name, bind or change their phone
    MANAGE_PERSON = "MANAGE_PERSON"
    #: appoint and end team positions, grant and end roles, at the place
    APPOINT = "APPOINT"
    # Party members
    #: a compound's Party registrations and building groups, for those who work with its members
    READ_PARTY = "READ_PARTY"
    #: approve or reject a Party member's registration
    DECIDE = "DECIDE"
    #: reverse an entry of a Party member's participation record
    CORRECT_PARTY_RECORD = "CORRECT_PARTY_RECORD"
    #: draft Party members' evaluations (a compound's), set how often they are made (a community's)
    EVALUATE = "EVALUATE"
    #: send a community's confirmed evaluations to the members' employers, list and download what
    #: was sent, record that it was received
    EXPORT = "EXPORT"
    # notices
    #: post a notice to the place (a community, or a compound and its buildings)
    PUBLISH_NOTICE = "PUBLISH_NOTICE"
    #: correct, pin or withdraw a notice
    MANAGE_NOTICE = "MANAGE_NOTICE"
    #: how many of the people a notice reaches have read it, and who
    READ_RECEIPTS = "READ_RECEIPTS"
    # a community's settings
    #: set the service deadline (办理时限): days from a report to its resolution
    SET_SERVICE_DAYS = "SET_SERVICE_DAYS"
    # the schema itself
    INTROSPECT = "INTROSPECT"
    #: run a document that is not registered (`qilijia documents add`), in `prod`
    RUN_UNREGISTERED = "RUN_UNREGISTERED"


class Field(StrEnum):
    NAME = "NAME"
    PHONE = "PHONE"
    PARTY_STATUS = "PARTY_STATUS"
    PARTY_DETAIL = "PARTY_DETAIL"
    PARTY_COUNTS = "PARTY_COUNTS"
    #: a place's Party participation rates (active members, hours per member)
    PARTY_ACTIVITY = "PARTY_ACTIVITY"


#: The facts and the table of each resource (its rows' binding is `auth.bindings.BINDINGS`).
TABLES: dict[Resource, str | None] = {
    Resource.DISTRICT: "district",
    Resource.STREET: "street",
    Resource.COMMUNITY: "community",
    Resource.GRID: "grid",
    Resource.COMPOUND: "compound",
    Resource.BUILDING: "building",
    Resource.HOUSEHOLD: "household",
    Resource.PERSON: "person",
    Resource.TASK: "task",
    Resource.VOTE: "vote",
    Resource.ELECTOR: "vote_electorate",
    Resource.HOME_CLAIM: "home_claim",
    Resource.PARTY_REGISTRATION: "party_registration",
    Resource.PARTY_GROUP: "party_group",
    Resource.PARTY_EVALUATION: "party_evaluation",
    Resource.NOTICE: "notice",
    Resource.SCHEMA: None,
}


def facts_type(resource: Resource) -> type:
    table = TABLES[resource]
    return PlaceFacts if table is None else BINDINGS[table][0]


def binding(resource: Resource, row: FromClause) -> Binding:
    table = TABLES[resource]
    if table is None:
        raise ValueError(f"{resource} has no rows")
    return BINDINGS[table][1](row)


# --- relations: how the caller stands to an object -------------------------------------------------

ADMIN = Admin()
API_CLIENT = ApiClient()
RESIDENT = In("compound_id", Scope.HOME_COMPOUNDS)  # a home (owner or tenant) in the compound
HOUSEHOLD_MEMBER = In("household_id", Scope.HOME_HOUSEHOLDS)
LIVES_IN_BUILDING = In("building_id", Scope.HOME_BUILDINGS)
PARTY_MEMBER = In("compound_id", Scope.PARTY_COMPOUNDS)
GRID_WORKER = In("grid_id", Scope.GRIDS)
COMMUNITY_COMMITTEE = In("community_id", Scope.COMMUNITIES)
PROPERTY_STAFF = In("compound_id", Scope.STAFF_COMPOUNDS)
OWNERS_COMMITTEE = In("compound_id", Scope.OWNERS_COMMITTEE_COMPOUNDS)
TEAM_MEMBER = In("compound_id", Scope.TEAM_COMPOUNDS)  # any team position in the compound
TEAM_CORE = In("compound_id", Scope.CORE_TEAM_COMPOUNDS)  # chief, deputy, committee member
BUILDING_CONVENER = In("building_id", Scope.CONVENED_BUILDINGS)  # of the object's building
CONVENES_HERE = In("compound_id", Scope.CONVENED_COMPOUNDS)  # of some building of the compound
CHIEF_CONVENER = In("compound_id", Scope.CHIEF_COMPOUNDS)

#: Holding a role at the object's place, at the level the role is held (its scope).
_HOLDS: dict[Role, Cond] = {
    Role.PARTY_MEMBER: PARTY_MEMBER,
    Role.PROPERTY_STAFF: PROPERTY_STAFF,
    Role.OWNERS_COMMITTEE: OWNERS_COMMITTEE,
    Role.GRID_WORKER: GRID_WORKER,
    Role.COMMUNITY_COMMITTEE: COMMUNITY_COMMITTEE,
}
assert all(ROLE_SCOPE[role] for role in _HOLDS), "every role a task may be assigned to has a place"

#: The roles a task may be assigned to, and those a dispute may be (assigning a task to a role
#: opens it to everyone holding the role there, and a dispute's parties are private).
ASSIGNABLE_ROLES = frozenset(_HOLDS)
DISPUTE_ASSIGNABLE_ROLES = frozenset({Role.PROPERTY_STAFF, Role.GRID_WORKER, Role.COMMUNITY_COMMITTEE})

# relations only the object itself can tell
REPORTER = IsMe("reporter_id")


def assigned_to_my_role(roles: frozenset[Role]) -> Cond:
    """The object is assigned to one of `roles`, and the caller holds it at the object's place."""
    return either(*(OneOf("assigned_role", frozenset({role.value})) & _HOLDS[role] for role in sorted(roles)))


WORKER = MeIn("workers")  # the assignee or in the working group
ASSIGNEE = WORKER | assigned_to_my_role(ASSIGNABLE_ROLES)  # or holds the role it went to
DISPUTE_PARTY = MeIn("parties")
MEDIATOR = MeIn("mediators")
ELIGIBLE_OWNER = MeIn("owners")  # owned a household of the vote's frozen electorate at opening
PROXY_HOLDER = MeIn("proxies")  # holds a checked written proxy of such an owner, usable in the vote
SELF = IsMe("person_id")
CLAIMANT = SELF  # of a claim to a home: the person who made it

# object states the rules depend on
IS_DISPUTE = OneOf("kind", frozenset({TaskKind.DISPUTE.value}))
IS_PUBLIC = OneOf("visibility", frozenset({TaskVisibility.PUBLIC.value}))
IS_OPEN = OneOf("status", frozenset({VoteStatus.OPEN.value}))
IS_DRAFT = OneOf("status", frozenset({"DRAFT"}))  # an evaluation not yet confirmed
#: a task whose text waits for review or was removed (`models.task_rules.HELD`, `REMOVED`)
IS_HELD = OneOf("review_hold", frozenset({HELD, REMOVED}))

# how a person shown to the caller is tied to the caller's places (read from the person's ties)
_LIVES = OneOf("kind", frozenset({Tie.OWNER.value, Tie.TENANT.value}))
_OWNS = OneOf("kind", frozenset({Tie.OWNER.value}))
_IS_PARTY = OneOf("kind", frozenset({Tie.PARTY_MEMBER.value}))
TIED_TO_MY_GRID = Some("ties", GRID_WORKER)
TIED_TO_MY_COMMUNITY = Some("ties", COMMUNITY_COMMITTEE)
STAFF_ON_RESIDENT = Some("ties", _LIVES & PROPERTY_STAFF)
OWNERS_COMMITTEE_ON_OWNER = Some("ties", _OWNS & OWNERS_COMMITTEE)
PARTY_GROUP = Some("ties", _IS_PARTY & PARTY_MEMBER)  # fellow Party members of a compound
COMMITTEE_ON_MEMBER = Some("ties", _IS_PARTY & COMMUNITY_COMMITTEE)
GRID_ON_MEMBER = Some("ties", _IS_PARTY & GRID_WORKER)


def rule(resource: Resource, action: Action) -> Cond:
    """Another row of the table, by reference."""
    return Allowed(f"{resource}:{action}", lambda: POLICY[(resource, action)].cond)


# --- the table ---------------------------------------------------------------------------------------

PLACE_TREE = either(
    ADMIN,
    API_CLIENT,
    RESIDENT,
    PARTY_MEMBER,
    GRID_WORKER,
    COMMUNITY_COMMITTEE,
    PROPERTY_STAFF,
    OWNERS_COMMITTEE,
    TEAM_MEMBER,
)
COMPOUND_PEOPLE = either(
    ADMIN,
    RESIDENT,
    PARTY_MEMBER,
    GRID_WORKER,
    COMMUNITY_COMMITTEE,
    PROPERTY_STAFF,
    OWNERS_COMMITTEE,
    TEAM_MEMBER,
)
HOUSEHOLDS = either(
    ADMIN,
    HOUSEHOLD_MEMBER,
    BUILDING_CONVENER,
    GRID_WORKER,
    COMMUNITY_COMMITTEE,
    PROPERTY_STAFF,
    OWNERS_COMMITTEE,
)
#: who triages: the compound's core team, the building's convener, the grid and the community
TRIAGE = either(TEAM_CORE, BUILDING_CONVENER, GRID_WORKER, COMMUNITY_COMMITTEE)
WORK = TRIAGE | ASSIGNEE
#: who reads a public task besides its reporter and assignees: the compound and those serving it
TASK_READERS = either(
    RESIDENT, PARTY_MEMBER, TEAM_MEMBER, GRID_WORKER, COMMUNITY_COMMITTEE, PROPERTY_STAFF, OWNERS_COMMITTEE
)
#: internal tasks are the team's
INTERNAL_READERS = either(TRIAGE, OWNERS_COMMITTEE, PROPERTY_STAFF)
#: disputes are private: their parties and mediators, the grid and the community
DISPUTE_READERS = either(DISPUTE_PARTY, MEDIATOR, GRID_WORKER, COMMUNITY_COMMITTEE)
#: a task's reporter and assignees read it whatever its kind; a dispute opens to the role it is
#: assigned to only if a dispute may go to that role at all (its parties are private)
READ_TASK = either(
    REPORTER,
    WORKER,
    IS_DISPUTE & (DISPUTE_READERS | assigned_to_my_role(DISPUTE_ASSIGNABLE_ROLES)),
    ~IS_DISPUTE & (assigned_to_my_role(ASSIGNABLE_ROLES) | (IS_PUBLIC & TASK_READERS)),
    ~IS_DISPUTE & ~IS_PUBLIC & INTERNAL_READERS,
) & (
    # text held for review (or removed) is its author's and its moderators' until approved
    ~IS_HELD | REPORTER | TRIAGE
)
#: an open vote and its live tally: eligible owners and the team; its result after the close: the
#: compound (and third parties, as public aggregates)
READ_VOTE = either(
    IS_OPEN
    & either(ELIGIBLE_OWNER, PROXY_HOLDER, TEAM_MEMBER, GRID_WORKER, COMMUNITY_COMMITTEE, OWNERS_COMMITTEE),
    ~IS_OPEN & (PLACE_TREE | ELIGIBLE_OWNER),
)


@dataclass(frozen=True)
class Rule:
    cond: Cond
    #: what a caller who may see the object is told when the rule denies
    denied: str = ""


_TEAM_ONLY = "只有小区班子、网格员或社区“两委”可以"
#: who keeps the register of who lives where (DESIGN §5): the grid and the community for their
#: area, the property staff for their compound's residents, an admin everywhere
HOME_KEEPERS = either(ADMIN, GRID_WORKER, COMMUNITY_COMMITTEE, PROPERTY_STAFF)
_HOME_KEEPERS = "只有网格员、社区“两委”或本小区物业人员可以登记、变更住户信息。"
#: someone holding a role or a team position: their phone is a way into that office (a WeChat
#: login binds to a phone), so only an operator changes it
HOLDS_OFFICE = Some("ties", ~_LIVES)
#: who corrects a person's name and phone: the staff answerable for a resident's area, who also read
#: their phone in full (`PHONE_READERS`); an admin for anyone, office holders included
PERSON_KEEPERS = ADMIN | (either(TIED_TO_MY_GRID, TIED_TO_MY_COMMUNITY, STAFF_ON_RESIDENT) & ~HOLDS_OFFICE)
#: who appoints: the community committee in its community, an admin everywhere
APPOINTERS = ADMIN | COMMUNITY_COMMITTEE
_APPOINTERS = "只有本社区“两委”成员可以任免小区班子职务、授予或结束角色。"
_PARTY_KEEPERS = "只有本社区“两委”成员可以查看和审核党员报到。"
#: who reads a compound's building groups and their members: its Party members (DESIGN §5: "+ party
#: group names"), the grid worker (who learns the registration status, no more) and the committee
PARTY_GROUP_READERS = either(ADMIN, COMMUNITY_COMMITTEE, GRID_WORKER, PARTY_MEMBER)
#: who drafts Party members' evaluations: the compound's chief convener, the community committee
EVALUATORS = CHIEF_CONVENER | COMMUNITY_COMMITTEE
_EVALUATORS = "只有小区的总召集人或社区“两委”成员可以起草党员评价。"
_VOTE_OPENERS = "只有本小区的业委会成员或社区“两委”成员可以"
#: a notice: who posted it, whether it is out, where it is posted, whether it was taken down
NOTICE_AUTHOR = IsMe("author_id")
IS_PUBLISHED = OneOf("published", frozenset({True}))
TO_WHOLE_COMPOUNDS = OneOf("whole", frozenset({True}))
IN_A_COMPOUND = OneOf("in_compound", frozenset({True}))
IS_WITHDRAWN = OneOf("withdrawn", frozenset({True}))
#: who posts to a compound (and its buildings): its team, owners' committee and property staff,
#: and the community committee (which alone posts to the whole community)
COMPOUND_PUBLISHERS = either(ADMIN, COMMUNITY_COMMITTEE, TEAM_CORE, OWNERS_COMMITTEE, PROPERTY_STAFF)
#: who corrects, pins and withdraws a notice, and sees who read it: the committee, and its author
#: while they may still post there (a property company replaced no longer speaks for the compound)
NOTICE_EDITORS = either(
    ADMIN, COMMUNITY_COMMITTEE, NOTICE_AUTHOR & IN_A_COMPOUND & Some("compounds", COMPOUND_PUBLISHERS)
)
#: a published notice, until it is taken down, is read by those serving a compound it reaches, by
#: the residents of a compound it reaches whole, and by those living in a building it is posted to;
#: its editors read it whatever its state
READ_NOTICE = NOTICE_EDITORS | (
    IS_PUBLISHED
    & ~IS_WITHDRAWN
    & either(
        Some("compounds", either(PARTY_MEMBER, TEAM_MEMBER, GRID_WORKER, PROPERTY_STAFF, OWNERS_COMMITTEE)),
        TO_WHOLE_COMPOUNDS & Some("compounds", RESIDENT),
        Some("buildings", LIVES_IN_BUILDING),
    )
)
_NOTICE_EDITORS = "只有公告的发布人或本社区“两委”成员可以"

POLICY: Mapping[tuple[Resource, Action], Rule] = {
    # a district and a street: read where the caller may read one of their communities
    (Resource.DISTRICT, Action.READ): Rule(
        ADMIN | Some("communities", rule(Resource.COMMUNITY, Action.READ))
    ),
    (Resource.STREET, Action.READ): Rule(ADMIN | Some("communities", rule(Resource.COMMUNITY, Action.READ))),
    # the place tree, compound profiles and public stats (third parties: public aggregates)
    (Resource.COMMUNITY, Action.READ): Rule(
        ADMIN | COMMUNITY_COMMITTEE | Some("compounds", rule(Resource.COMPOUND, Action.READ))
    ),
    # who did what in a community: its committee (and an admin, who also reads the records of no
    # community: imports, API keys)
    (Resource.COMMUNITY, Action.READ_AUDIT): Rule(
        ADMIN | COMMUNITY_COMMITTEE, "只有本社区“两委”成员可以查看审计记录。"
    ),
    (Resource.COMMUNITY, Action.READ_TASK_STATS): Rule(
        Some("compounds", rule(Resource.COMPOUND, Action.READ_TASK_STATS))
    ),
    (Resource.GRID, Action.READ): Rule(
        ADMIN | GRID_WORKER | COMMUNITY_COMMITTEE | Some("compounds", rule(Resource.COMPOUND, Action.READ))
    ),
    (Resource.GRID, Action.READ_TASK_STATS): Rule(
        Some("compounds", rule(Resource.COMPOUND, Action.READ_TASK_STATS))
    ),
    (Resource.COMPOUND, Action.READ): Rule(PLACE_TREE),
    (Resource.COMPOUND, Action.READ_TEAM): Rule(COMPOUND_PEOPLE, "第三方接口只能读取公开的统计数据。"),
    (Resource.COMPOUND, Action.READ_STATS): Rule(PLACE_TREE),
    (Resource.COMPOUND, Action.READ_TASK_STATS): Rule(PLACE_TREE),
    (Resource.COMPOUND, Action.REPORT_TASK): Rule(
        either(
            RESIDENT,
            PARTY_MEMBER,
            TEAM_MEMBER,
            GRID_WORKER,
            COMMUNITY_COMMITTEE,
            PROPERTY_STAFF,
            OWNERS_COMMITTEE,
        ),
        "只能在自己居住或负责的小区反映事项。",
    ),
    (Resource.COMPOUND, Action.CREATE_PROJECT): Rule(
        TRIAGE | OWNERS_COMMITTEE, "只有小区班子可以发起项目或内部事项。"
    ),
    (Resource.COMPOUND, Action.OPEN_VOTE): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}发起表决。"
    ),
    (Resource.COMPOUND, Action.SET_PROCEDURE): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}登记议事规则。"
    ),
    # written proxies: an owner appoints (whether they own a home there is the proxy's own rule),
    # the owners' committee or the community committee checks the 委托书
    (Resource.COMPOUND, Action.APPOINT_PROXY): Rule(RESIDENT, "只有本小区的业主可以委托他人代为投票。"),
    (Resource.COMPOUND, Action.VERIFY_PROXY): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}核实业主的书面委托。"
    ),
    (Resource.COMPOUND, Action.APPOINT): Rule(APPOINTERS, _APPOINTERS),
    (Resource.GRID, Action.APPOINT): Rule(APPOINTERS, _APPOINTERS),
    (Resource.COMMUNITY, Action.APPOINT): Rule(APPOINTERS, _APPOINTERS),
    (Resource.BUILDING, Action.READ): Rule(rule(Resource.COMPOUND, Action.READ)),
    # households: number, floor, area, and who lives there
    (Resource.HOUSEHOLD, Action.READ): Rule(HOUSEHOLDS),
    (Resource.HOUSEHOLD, Action.MANAGE_HOMES): Rule(HOME_KEEPERS, _HOME_KEEPERS),
    # the queue of residents' claims to homes in a compound
    (Resource.COMPOUND, Action.MANAGE_HOMES): Rule(HOME_KEEPERS, _HOME_KEEPERS),
    # a claim to a home: its claimant and whoever may confirm it; a claim grants nothing until then
    (Resource.HOME_CLAIM, Action.READ): Rule(CLAIMANT | HOME_KEEPERS),
    (Resource.HOME_CLAIM, Action.MANAGE_HOMES): Rule(HOME_KEEPERS, _HOME_KEEPERS),
    (Resource.HOME_CLAIM, Action.RETRACT): Rule(CLAIMANT, "只有申请人本人可以撤回住户登记申请。"),
    # Party registrations (报到): sensitive; the member and their community's committee, who decides
    (Resource.COMPOUND, Action.READ_PARTY): Rule(COMMUNITY_COMMITTEE, _PARTY_KEEPERS),
    (Resource.PARTY_REGISTRATION, Action.READ): Rule(SELF | COMMUNITY_COMMITTEE),
    # nobody decides their own application
    (Resource.PARTY_REGISTRATION, Action.DECIDE): Rule(
        COMMUNITY_COMMITTEE & ~SELF, "只有本社区“两委”成员可以审核党员报到，不能审核自己的报到申请。"
    ),
    (Resource.PARTY_REGISTRATION, Action.RETRACT): Rule(SELF, "只有党员本人可以撤回、结束或转移自己的报到。"),
    # building groups: the compound's Party members and those who work with them (the registration
    # status is all the grid worker sees of Party data); set up by the community committee
    (Resource.PARTY_GROUP, Action.READ): Rule(PARTY_GROUP_READERS),
    (Resource.PARTY_GROUP, Action.APPOINT): Rule(APPOINTERS, _APPOINTERS),
    # a Party member's participation record: theirs and their community committee's, who corrects it
    (Resource.PERSON, Action.READ_PARTY): Rule(
        SELF | COMMITTEE_ON_MEMBER, "党员的参与记录只有本人和所在社区“两委”可以查看。"
    ),
    (Resource.PERSON, Action.CORRECT_PARTY_RECORD): Rule(
        COMMITTEE_ON_MEMBER, "只有党员所在社区的“两委”成员可以更正参与记录。"
    ),
    # evaluations (评价鉴定): the chief convener drafts, the community committee confirms; the member
    # and the committee read them, the chief convener the drafts they write
    (Resource.COMMUNITY, Action.EVALUATE): Rule(COMMUNITY_COMMITTEE, _EVALUATORS),
    (Resource.COMPOUND, Action.EVALUATE): Rule(EVALUATORS, _EVALUATORS),
    (Resource.PARTY_EVALUATION, Action.READ): Rule(SELF | COMMUNITY_COMMITTEE | (IS_DRAFT & CHIEF_CONVENER)),
    # nobody writes or confirms their own
    (Resource.PARTY_EVALUATION, Action.EVALUATE): Rule(
        EVALUATORS & ~SELF, _EVALUATORS + "不能为自己起草评价。"
    ),
    (Resource.PARTY_EVALUATION, Action.DECIDE): Rule(
        COMMUNITY_COMMITTEE & ~SELF, "只有党员所在社区的“两委”成员可以确认评价，不能确认自己的评价。"
    ),
    # exports of confirmed evaluations to the members' employers: the community committee's
    (Resource.COMMUNITY, Action.EXPORT): Rule(
        COMMUNITY_COMMITTEE, "只有本社区“两委”成员可以导出党员评价、查看导出记录和登记对方收到。"
    ),
    # the service deadline of the community's tasks: its committee's
    (Resource.COMMUNITY, Action.SET_SERVICE_DAYS): Rule(
        COMMUNITY_COMMITTEE, "只有本社区“两委”成员可以设定事项的办理时限。"
    ),
    # a person: visible wherever the caller may see them shown (a household, a team, a task)
    (Resource.PERSON, Action.READ): Rule(
        either(
            ADMIN,
            SELF,
            Some("homes", rule(Resource.HOUSEHOLD, Action.READ)),
            Some("seats", rule(Resource.COMPOUND, Action.READ_TEAM)),
            Some("tasks", rule(Resource.TASK, Action.READ)),
            Some("volunteered", rule(Resource.TASK, Action.READ_ROSTER)),
            Some("groups", rule(Resource.PARTY_GROUP, Action.READ)),
        )
    ),
    (Resource.PERSON, Action.MANAGE_PERSON): Rule(
        PERSON_KEEPERS,
        "只有负责这位居民所在网格、社区的工作人员或本小区物业人员可以更正姓名和手机号；"
        "担任角色或职务的人员，请联系管理员更正。",
    ),
    # tasks (DESIGN §3, §5): public ISSUE/PROJECT tasks are the compound's, internal ones the team's,
    # disputes their parties'
    (Resource.TASK, Action.READ): Rule(READ_TASK),
    (Resource.TASK, Action.COMMENT): Rule(READ_TASK),
    (Resource.TASK, Action.ACCEPT): Rule(TRIAGE, f"{_TEAM_ONLY}受理事项。"),
    (Resource.TASK, Action.REJECT): Rule(TRIAGE, f"{_TEAM_ONLY}受理事项。"),
    (Resource.TASK, Action.ASSIGN): Rule(TRIAGE, f"{_TEAM_ONLY}分派事项。"),
    (Resource.TASK, Action.START): Rule(WORK, "只有小区班子或承办人可以办理事项。"),
    (Resource.TASK, Action.RESOLVE): Rule(WORK, "只有小区班子或承办人可以办理事项。"),
    (Resource.TASK, Action.REOPEN): Rule(REPORTER, "只有反映人可以重新打开事项。"),
    (Resource.TASK, Action.RATE): Rule(REPORTER, "只有反映人可以评价事项。"),
    (Resource.TASK, Action.RETRACT): Rule(REPORTER, "只有反映人本人可以撤回反映。"),
    (Resource.TASK, Action.EDIT): Rule(
        REPORTER | TRIAGE, "只有反映人或小区班子、网格员、社区“两委”可以修改事项。"
    ),
    (Resource.TASK, Action.SCHEDULE_MEETING): Rule(TRIAGE, f"{_TEAM_ONLY}安排专题会议、记录会议决定。"),
    (Resource.TASK, Action.RECORD_DECISIONS): Rule(TRIAGE, f"{_TEAM_ONLY}安排专题会议、记录会议决定。"),
    (Resource.TASK, Action.OPEN_VOLUNTEER_CALL): Rule(TRIAGE, f"{_TEAM_ONLY}发起志愿者接龙。"),
    (Resource.TASK, Action.READ_ROSTER): Rule(TRIAGE & READ_TASK, "只有接龙的组织者可以查看报名名单。"),
    (Resource.TASK, Action.CHECK_IN): Rule(TRIAGE, "只有接龙的组织者可以签到。"),
    (Resource.TASK, Action.SIGN_UP): Rule(RESIDENT, "只有本小区的居民可以报名。"),
    (Resource.TASK, Action.WITHDRAW): Rule(READ_TASK),
    (Resource.TASK, Action.PUBLISH_DISCLOSURE): Rule(TRIAGE, f"{_TEAM_ONLY}发布费用公示。"),
    # a moderator reads what they decide on: a dispute's held text is its grid's and community's
    (Resource.TASK, Action.MODERATE): Rule(TRIAGE & READ_TASK, f"{_TEAM_ONLY}审核待复核的内容。"),
    # who names a dispute's mediators: the grid and the community, not a mediator
    (Resource.TASK, Action.ASSIGN_MEDIATOR): Rule(
        GRID_WORKER | COMMUNITY_COMMITTEE, "只有网格员或社区“两委”可以指定调解员。"
    ),
    (Resource.TASK, Action.RECORD_OUTCOME): Rule(
        MEDIATOR | GRID_WORKER | COMMUNITY_COMMITTEE, "只有调解员、网格员或社区“两委”可以记录调解结果。"
    ),
    # owner votes (DESIGN §4, §5): nobody but a household's own owners ever sees its choice
    (Resource.VOTE, Action.READ): Rule(READ_VOTE),
    (Resource.VOTE, Action.CAST): Rule(
        ELIGIBLE_OWNER | PROXY_HOLDER,
        "只有表决范围内住户的业主（或经核实的业主书面委托代理人）才能投票（租户不能投票）。",
    ),
    (Resource.VOTE, Action.CLOSE): Rule(OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}结束表决。"),
    (Resource.VOTE, Action.CANCEL): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}撤销表决。"
    ),
    (Resource.VOTE, Action.EXTEND): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}延长表决时间。"
    ),
    # paper ballots: entered by one of them, confirmed by another
    (Resource.VOTE, Action.ENTER_PAPER_BALLOTS): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}录入和复核书面表决票。"
    ),
    # the whole record of an ended vote, to file with the street office (never a choice)
    (Resource.VOTE, Action.EXPORT): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}导出表决记录。"
    ),
    # works: an affected household's owner consents, or the committees enter its signed 同意书
    (Resource.VOTE, Action.CONSENT): Rule(
        either(ELIGIBLE_OWNER, OWNERS_COMMITTEE, COMMUNITY_COMMITTEE),
        "只有受影响住户的业主，或业委会、社区“两委”成员，可以登记同意书。",
    ),
    # the owner roll published before a vote opens (公示): the people of the compound read it (names
    # masked); whoever has a home there may object, for their own household as its owner
    (Resource.VOTE, Action.READ_ROLL): Rule(
        either(RESIDENT, TEAM_MEMBER, GRID_WORKER, COMMUNITY_COMMITTEE, OWNERS_COMMITTEE, PROPERTY_STAFF),
        "只有本小区的住户和工作人员可以查看业主名册。",
    ),
    (Resource.VOTE, Action.OBJECT_TO_ROLL): Rule(RESIDENT, "只有本小区的业主可以对业主名册提出异议。"),
    # the published result (公示): the vote's owners object, the committees answer
    (Resource.VOTE, Action.OBJECT): Rule(ELIGIBLE_OWNER, "只有表决范围内住户的业主可以对表决结果提出异议。"),
    (Resource.VOTE, Action.ANSWER_OBJECTIONS): Rule(
        OWNERS_COMMITTEE | COMMUNITY_COMMITTEE, f"{_VOTE_OPENERS}答复业主对表决结果的异议。"
    ),
    # the frozen electorate (numbers, areas, head groups; no names)
    (Resource.VOTE, Action.READ_ELECTORATE): Rule(
        either(TEAM_MEMBER, GRID_WORKER, COMMUNITY_COMMITTEE, OWNERS_COMMITTEE),
        "只有小区班子、网格员、社区“两委”和业委会可以查看表决范围。",
    ),
    # who has not voted yet, for door-knocking: a building convener sees their own building
    (Resource.VOTE, Action.READ_TURNOUT): Rule(
        either(CONVENES_HERE, GRID_WORKER, COMMUNITY_COMMITTEE, OWNERS_COMMITTEE),
        "只有楼栋召集人、网格员、社区“两委”和业委会可以查看尚未投票的住户。",
    ),
    (Resource.ELECTOR, Action.READ_TURNOUT): Rule(
        either(BUILDING_CONVENER, GRID_WORKER, COMMUNITY_COMMITTEE, OWNERS_COMMITTEE)
    ),
    (Resource.ELECTOR, Action.READ_CHOICE): Rule(ELIGIBLE_OWNER),
    # notices (公告): the community committee posts to its community; a compound's team, owners'
    # committee and property staff post to it and its buildings
    (Resource.COMMUNITY, Action.PUBLISH_NOTICE): Rule(
        ADMIN | COMMUNITY_COMMITTEE, "只有本社区“两委”成员可以向全社区发布公告。"
    ),
    (Resource.COMPOUND, Action.PUBLISH_NOTICE): Rule(
        COMPOUND_PUBLISHERS, "只有本小区的班子、业委会、物业或社区“两委”成员可以在本小区发布公告。"
    ),
    (Resource.NOTICE, Action.READ): Rule(READ_NOTICE),
    (Resource.NOTICE, Action.MANAGE_NOTICE): Rule(NOTICE_EDITORS, f"{_NOTICE_EDITORS}更正、置顶或撤回公告。"),
    (Resource.NOTICE, Action.READ_RECEIPTS): Rule(NOTICE_EDITORS, f"{_NOTICE_EDITORS}查看公告的阅读情况。"),
    # in `prod`, schema introspection is for operators only
    (Resource.SCHEMA, Action.INTROSPECT): Rule(ADMIN),
    # in `prod`, a third-party client runs only the registered documents: what it may ask is known
    (Resource.SCHEMA, Action.RUN_UNREGISTERED): Rule(
        ~API_CLIENT, "第三方客户端只能运行已登记的查询（qilijia documents add），请使用已登记查询的 sha256。"
    ),
}


@dataclass(frozen=True)
class Shown:
    """Who sees a field in full, who sees it masked (with `mask`); everyone else sees nothing."""

    full: Cond
    masked: Cond = NEVER
    mask: masking.Mask | None = None
    #: of those who see it in full, whose reading is recorded in the audit trail
    #: (`resolvers.audit.Reveals`): a staff member reading residents' phone numbers
    recorded: Cond = NEVER


#: who reads other people's full phone numbers: each such reading is recorded
PHONE_READERS = either(ADMIN, TIED_TO_MY_GRID, TIED_TO_MY_COMMUNITY, STAFF_ON_RESIDENT)

#: the places whose Party statistics are read (`resolvers.party_stats`)
PARTY_PLACES = (Resource.COMPOUND, Resource.GRID, Resource.COMMUNITY, Resource.STREET)

FIELDS: Mapping[tuple[Resource, Field], Shown] = {
    # a person's name: everyone who may see the person sees at least its masked form
    (Resource.PERSON, Field.NAME): Shown(
        full=either(
            ADMIN,
            SELF,
            TIED_TO_MY_GRID,
            TIED_TO_MY_COMMUNITY,
            STAFF_ON_RESIDENT,
            OWNERS_COMMITTEE_ON_OWNER,
            PARTY_GROUP,
        ),
        masked=ALWAYS,
        mask=masking.NAME,
    ),
    (Resource.PERSON, Field.PHONE): Shown(
        full=SELF | PHONE_READERS,
        masked=OWNERS_COMMITTEE_ON_OWNER,
        mask=masking.PHONE,
        recorded=PHONE_READERS,
    ),
    # Party data is sensitive: the member and the community committee; the grid worker and
    # operators see the registration status only (judged by the member's own registration)
    (Resource.PERSON, Field.PARTY_STATUS): Shown(
        full=either(SELF, COMMITTEE_ON_MEMBER, GRID_ON_MEMBER, ADMIN)
    ),
    (Resource.PERSON, Field.PARTY_DETAIL): Shown(
        full=SELF | COMMITTEE_ON_MEMBER, recorded=COMMITTEE_ON_MEMBER
    ),
    # Party aggregates: the registration rate is public; the head counts stay with those who work
    # with the compound's Party members
    (Resource.COMPOUND, Field.PARTY_COUNTS): Shown(
        full=either(PARTY_MEMBER, TEAM_MEMBER, GRID_WORKER, COMMUNITY_COMMITTEE, ADMIN)
    ),
    (Resource.GRID, Field.PARTY_COUNTS): Shown(full=either(GRID_WORKER, COMMUNITY_COMMITTEE, ADMIN)),
    (Resource.COMMUNITY, Field.PARTY_COUNTS): Shown(full=COMMUNITY_COMMITTEE | ADMIN),
    (Resource.STREET, Field.PARTY_COUNTS): Shown(full=ADMIN),
    # participation rates are the public statistics of people who may read the place; a third-party
    # client reads the registration rate only (DESIGN §5)
    **{(r, Field.PARTY_ACTIVITY): Shown(full=~API_CLIENT) for r in PARTY_PLACES},
}


# --- deciding one object ------------------------------------------------------------------------------

NOT_VISIBLE = "该内容不存在，或您没有查看权限。"


def not_visible() -> ForbiddenError:
    """The one answer for an object that does not exist or that the caller may not see: the
    policy's SQL filter found no row, and the caller must not learn which."""
    return ForbiddenError(NOT_VISIBLE)


def require_dev_environment(is_dev: bool) -> None:
    """The development login exists in `dev` only: anywhere else it would let anyone be anyone."""
    if not is_dev:
        raise ForbiddenError("开发登录只在开发环境（QILIJIA_ENV=dev）中可用，请使用微信登录。")


def allows(who: Principal, resource: Resource, action: Action, facts: Any = NO_FACTS) -> bool:
    found = POLICY.get((resource, action))
    return found is not None and found.cond.holds(who, facts)


def require(who: Principal, resource: Resource, action: Action, facts: Any = NO_FACTS) -> None:
    """Raise the one error a denial answers. A caller who may not see the object hears the single
    not-visible sentence, whether or not it exists; one who may see it hears why not."""
    found = POLICY.get((resource, action))
    reader = POLICY.get((resource, Action.READ))
    if found is None or (reader is not None and not reader.cond.holds(who, facts)):
        raise ForbiddenError(NOT_VISIBLE)
    if not found.cond.holds(who, facts):
        raise ForbiddenError(found.denied or NOT_VISIBLE)


def refusal(resource: Resource, action: Action) -> ForbiddenError:
    """The error a caller who may see the object gets when the policy denies `action` on it."""
    found = POLICY.get((resource, action))
    return ForbiddenError(found.denied if found is not None and found.denied else NOT_VISIBLE)


def shown(who: Principal, resource: Resource, field: Field, facts: Any, value: Any) -> Any:
    """A field's value as the caller may see it: whole, masked, or None."""
    found = FIELDS[(resource, field)]
    if found.full.holds(who, facts):
        return value
    if found.mask is not None and found.masked.holds(who, facts):
        return found.mask.python(value)
    return None


def shown_sql(
    who: Principal,
    resource: Resource,
    field: Field,
    row: FromClause,
    column: Any,
    known: Mapping[str, Sequence[Binding]] | None = None,
) -> Any:
    """The same as a SQL expression over `row` (a row of the resource's table); `known`: elements
    of the row's collections the statement already holds (`auth.bindings.Binding.knowing`)."""
    full, otherwise = shown_parts(who, resource, field, row, column, known)
    if is_true(full):
        return column
    if is_false(full):
        return otherwise
    return sa.case((full, column), else_=otherwise)


def shown_parts(
    who: Principal,
    resource: Resource,
    field: Field,
    row: FromClause,
    column: Any,
    known: Mapping[str, Sequence[Binding]] | None = None,
) -> tuple[Any, Any]:
    """(when the caller sees the field in full, what they see otherwise) as SQL over `row`: apart,
    so that a writer showing several fields under one condition asks it once. `known`: as for
    `shown_sql`."""
    found = FIELDS[(resource, field)]
    bound = binding(resource, row)
    for attr, elements in (known or {}).items():
        bound = bound.knowing(attr, elements)
    otherwise: Any = sa.null()
    if found.mask is not None:
        masked = found.masked.sql(who, bound)
        if is_true(masked):
            otherwise = found.mask.sql(column)
        elif not is_false(masked):
            otherwise = sa.case((masked, found.mask.sql(column)), else_=sa.null())
    return found.full.sql(who, bound), otherwise


def recorded(who: Principal, resource: Resource, field: Field) -> bool:
    """Whether this caller, reading the field, may see someone's value in full that the audit trail
    must record (decided for the caller's shape, over the resource's table)."""
    rule = FIELDS[(resource, field)].recorded
    if rule is NEVER:
        return False
    key = (resource, field, shape(who))
    found = _RECORDED.get(key)
    if found is None:
        if len(_RECORDED) > _COMPILED_MAX:
            _RECORDED.clear()
        table = TABLES[resource]
        if table is None:
            raise ValueError(f"{resource} has no rows")
        found = _RECORDED[key] = not is_false(
            rule.sql(who, binding(resource, SQLModel.metadata.tables[table]))
        )
    return found


_RECORDED: dict[tuple[Any, ...], bool] = {}


def visible(who: Principal, resource: Resource, field: Field, facts: Any) -> bool:
    """Whether the caller sees a field without a mask (for fields that are shown or not)."""
    return FIELDS[(resource, field)].full.holds(who, facts)


def where(who: Principal, resource: Resource, action: Action, row: FromClause) -> SqlBool:
    """The rows of the resource's table (`row`: the table or an alias of it) the rule allows.

    The caller's ids are parameters (`params`), so for a table (not an alias) the condition is
    built once per caller shape and shared; run the statement with `params(who)`."""
    key = (resource, action, row, shape(who)) if isinstance(row, sa.Table) else None
    if key is not None and (cached := _COMPILED.get(key)) is not None:
        return cached
    found = POLICY.get((resource, action))
    clause = FALSE if found is None else found.cond.sql(who, binding(resource, row))
    if key is not None:
        if len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = clause
    return clause


class Mine(StrEnum):
    """A person's own relations to tasks, for their lists ("my reports", "assigned to me")."""

    REPORTED = "REPORTED"
    ASSIGNED = "ASSIGNED"


#: the conditions that make a task the caller's in each relation: the same ones the rules use
MINE: Mapping[Mine, Cond] = {Mine.REPORTED: REPORTER, Mine.ASSIGNED: ASSIGNEE}


def mine(who: Principal, relation: Mine, row: FromClause) -> SqlBool:
    """The tasks (`row`: the task table or an alias) that are the caller's in `relation`; run the
    statement with `params(who)`, as for `where`."""
    return MINE[relation].sql(who, binding(Resource.TASK, row))


def held_comment(e: FromClause) -> SqlBool:
    """A comment the content check held (`e`: task_event or an alias). A report's or an edit's own
    event carries the mark too, but its text is the task's, which `READ_TASK` hides while held."""
    return sa.and_(e.c.kind == EventKind.COMMENTED.value, e.c.payload.has_key("held_for_review"))


def shown_events(who: Principal, e: FromClause) -> SqlBool:
    """The timeline events (`e`: task_event or an alias) the caller sees on a task they may read: a
    comment held for review until it is approved, and a removed one ever after, only to its
    author and to the task's moderators (MODERATE)."""
    d, t = light(ModerationDecision.__table__).alias(), light(Task.__table__).alias()
    held = held_comment(e)
    approved = sa.exists().where(d.c.event_id == e.c.id, d.c.decision == Moderation.APPROVED.value)
    moderates = e.c.task_id.in_(sa.select(t.c.id).where(where(who, Resource.TASK, Action.MODERATE, t)))
    return sa.or_(sa.not_(held), approved, e.c.actor_id == ME, moderates)


_COMPILED: dict[tuple[Any, ...], SqlBool] = {}
#: Shapes are few (which of a dozen scopes a caller holds); the bound only guards against surprises
_COMPILED_MAX = 10_000


def attachable(place: PlaceFacts) -> Cond:
    """Who may be attached to a task of this place (as assignee, attendee, mediator or party): people
    who belong to its compound — living there, or holding a role or team position at it, its grid
    or its community. Otherwise a team could pull in anyone and show them through the task."""
    return Some(
        "ties",
        either(
            OneOf("compound_id", frozenset({place.compound_id})),
            OneOf("kind", frozenset({Tie.GRID_WORKER.value})) & OneOf("grid_id", frozenset({place.grid_id})),
            OneOf("kind", frozenset({Tie.COMMUNITY_COMMITTEE.value}))
            & OneOf("community_id", frozenset({place.community_id})),
        ),
    )


def attachable_sql(place: PlaceFacts, person: FromClause) -> SqlBool:
    """`attachable` over rows of the person table."""
    return attachable(place).sql(ANONYMOUS, binding(Resource.PERSON, person))


def standing(who: Principal, facts: TaskFacts) -> Standing:
    """The standing a caller acts in on a task, as its timeline records it."""
    if MEDIATOR.holds(who, facts):
        return Standing.MEDIATOR
    if allows(who, Resource.TASK, Action.ACCEPT, facts):
        return Standing.TEAM
    if allows(who, Resource.TASK, Action.START, facts):
        return Standing.ASSIGNEE
    if REPORTER.holds(who, facts):
        return Standing.REPORTER
    return Standing.RESIDENT if isinstance(who, PersonPrincipal) else Standing.SYSTEM


#: The policy action of each lifecycle step of a task.
TASK_ACTIONS: Mapping[TaskAction, Action] = {
    TaskAction.ACCEPT: Action.ACCEPT,
    TaskAction.REJECT: Action.REJECT,
    TaskAction.START: Action.START,
    TaskAction.RESOLVE: Action.RESOLVE,
    TaskAction.REOPEN: Action.REOPEN,
    TaskAction.RATE: Action.RATE,
    TaskAction.WITHDRAW: Action.RETRACT,
}


#: the scopes in which `COMPOUND_PUBLISHERS` (and the community committee) post notices
_POSTING_SCOPES = (
    Scope.COMMUNITIES,
    Scope.CORE_TEAM_COMPOUNDS,
    Scope.OWNERS_COMMITTEE_COMPOUNDS,
    Scope.STAFF_COMPOUNDS,
)


def posts_notices(who: Principal) -> bool:
    """Whether the caller may post a notice somewhere: a file that is not a photo (a PDF) is
    uploaded only for a notice, by those who post them (`COMPOUND_PUBLISHERS`)."""
    if not isinstance(who, PersonPrincipal):
        return False
    return who.is_admin or any(who.ids(scope) for scope in _POSTING_SCOPES)


def require_person(who: Principal) -> PersonPrincipal:
    if isinstance(who, PersonPrincipal):
        return who
    if isinstance(who, AnonymousPrincipal):
        raise UnauthenticatedError()
    raise ForbiddenError("第三方接口只能读取公开的统计数据。")


def require_authenticated(who: Principal) -> None:
    if not who.is_authenticated:
        raise UnauthenticatedError()


# --- the table is checked when it is imported: a misspelt attribute fails here, not as a silent
# denial -----------------------------------------------------------------------------------------------


def _collections(facts: type) -> set[str]:
    """The attributes of a facts type that hold other objects (a person's homes, a grid's compounds)."""
    return {
        name
        for name, hint in get_type_hints(facts).items()
        if any(isinstance(a, type) and is_dataclass(a) for a in get_args(hint))
    }


def _check_attrs(cond: Cond, facts: type, where_: str) -> None:
    for path in cond.attrs():
        current: type = facts
        for step in path:
            hints = get_type_hints(current)
            if step not in hints:
                raise AssertionError(f"{where_}: {current.__name__} has no attribute {step!r}")
            # a collection of other objects: the rest of the path is about its elements
            elements = [a for a in get_args(hints[step]) if isinstance(a, type) and is_dataclass(a)]
            current = elements[0] if elements else current


@functools.cache
def asks_collections(resource: Resource, action: Action) -> bool:
    """Whether deciding `action` on one object asks about collections of other objects (a
    community's compounds, the places a notice reaches), in its READ rule or the action's: those
    the facts read with a locked row do not hold, so the mutation asks the policy in SQL instead
    (`resolvers.pipeline`)."""
    held = _collections(facts_type(resource))
    rules = [POLICY[key].cond for key in ((resource, Action.READ), (resource, action)) if key in POLICY]
    return any(path[0] in held for cond in rules for path in cond.attrs())


#: What mutations check on the row they lock: its facts are read with it (`auth.bindings.facts_columns`),
#: which reads no collection of other objects, so no rule on these may ask for one.
CHECKED_ON_LOCKED_ROWS = frozenset(
    {
        Resource.COMPOUND,
        Resource.TASK,
        Resource.VOTE,
        Resource.HOME_CLAIM,
        Resource.PARTY_REGISTRATION,
        Resource.PARTY_GROUP,
        Resource.PARTY_EVALUATION,
    }
)

for (_resource, _action), _rule in POLICY.items():
    _check_attrs(_rule.cond, facts_type(_resource), f"{_resource}:{_action}")
    if _resource in CHECKED_ON_LOCKED_ROWS:
        _held = _collections(facts_type(_resource)) & {path[0] for path in _rule.cond.attrs()}
        assert not _held, f"{_resource}:{_action} reads {_held} on a locked row"
for (_resource, _field), _shown in FIELDS.items():
    _check_attrs(_shown.full, facts_type(_resource), f"{_resource}.{_field}")
    _check_attrs(_shown.masked, facts_type(_resource), f"{_resource}.{_field}")

__all__ = [
    "ASSIGNABLE_ROLES",
    "DISPUTE_ASSIGNABLE_ROLES",
    "FIELDS",
    "NOT_VISIBLE",
    "POLICY",
    "TASK_ACTIONS",
    "Action",
    "Field",
    "Resource",
    "Rule",
    "Shown",
    "allows",
    "asks_collections",
    "attachable",
    "attachable_sql",
    "binding",
    "facts_type",
    "not_visible",
    "params",
    "posts_notices",
    "recorded",
    "refusal",
    "require",
    "require_authenticated",
    "require_dev_environment",
    "require_person",
    "shape",
    "shown",
    "shown_sql",
    "standing",
    "visible",
    "where",
]
