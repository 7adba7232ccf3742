"""The task lifecycle (DESIGN §3) as a pure state machine, and the states tasks are made of.

    SUBMITTED ──accept──▶ ACCEPTED ──start──▶ IN_PROGRESS ──resolve──▶ RESOLVED ──close──▶ CLOSED
        │                    │                                            │  ▲
        ├──reject──▶ REJECTED└──────────────resolve───────────────────────┘  │ (rate, or 7 days)
        └──withdraw──▶ WITHDRAWN (by the reporter)                 reopen ──┘ once, by the reporter

Each transition says from which states it may happen and what it needs (a reason to reject or
reopen, a resolution text to resolve). Who may make it is the access policy's business
(`auth.policy`, one row per `TaskAction`); this module knows nothing about people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class TaskKind(StrEnum):
    ISSUE = "ISSUE"
    PROJECT = "PROJECT"
    DISPUTE = "DISPUTE"


class TaskStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    #: taken back by its reporter before anyone accepted it
    WITHDRAWN = "WITHDRAWN"


class TaskCategory(StrEnum):
    ELEVATOR = "ELEVATOR"
    PARKING = "PARKING"
    EBIKE_CHARGING = "EBIKE_CHARGING"
    ENVIRONMENT = "ENVIRONMENT"  # environment and greenery
    SAFETY = "SAFETY"
    PROPERTY_SERVICE = "PROPERTY_SERVICE"  # property service and fees
    PROPERTY_RIGHTS = "PROPERTY_RIGHTS"
    FACILITIES_REPAIR = "FACILITIES_REPAIR"
    NEIGHBOUR_RELATIONS = "NEIGHBOUR_RELATIONS"
    OTHER = "OTHER"


class TaskVisibility(StrEnum):
    PUBLIC = "PUBLIC"  # the compound's: every resident reads it
    INTERNAL = "INTERNAL"  # the team's (and the reporter's and assignees')


class MemberRole(StrEnum):
    """How a person is attached to a task."""

    ASSIGNEE = "ASSIGNEE"  # assigned alone
    LEAD = "LEAD"  # leads a working group
    MEMBER = "MEMBER"  # of a working group
    PARTY = "PARTY"  # a party to a dispute
    MEDIATOR = "MEDIATOR"  # mediates a dispute


#: the roles of the people who work a task
WORKING_ROLES = frozenset({MemberRole.ASSIGNEE, MemberRole.LEAD, MemberRole.MEMBER})


class EventKind(StrEnum):
    """What a timeline event records."""

    REPORTED = "REPORTED"
    STATUS_CHANGED = "STATUS_CHANGED"
    ASSIGNED = "ASSIGNED"
    COMMENTED = "COMMENTED"
    REOPENED = "REOPENED"
    RATED = "RATED"
    MEETING = "MEETING"
    MEETING_DECISIONS = "MEETING_DECISIONS"
    MEETING_CANCELLED = "MEETING_CANCELLED"
    MEETING_RESCHEDULED = "MEETING_RESCHEDULED"
    VOLUNTEER_CALL = "VOLUNTEER_CALL"
    VOLUNTEER_CHECKED_IN = "VOLUNTEER_CHECKED_IN"
    VOLUNTEER_CALL_CANCELLED = "VOLUNTEER_CALL_CANCELLED"
    VOLUNTEER_CALL_RESCHEDULED = "VOLUNTEER_CALL_RESCHEDULED"
    DISCLOSURE = "DISCLOSURE"
    MEDIATOR_ADDED = "MEDIATOR_ADDED"
    DISPUTE_OUTCOME = "DISPUTE_OUTCOME"
    VOTE_OPENED = "VOTE_OPENED"
    #: title, description or category corrected; the old text is kept in the event
    EDITED = "EDITED"


class Moderation(StrEnum):
    """What became of text held for review."""

    APPROVED = "APPROVED"  # everyone who may read the task reads it
    REMOVED = "REMOVED"  # only its author and those who triage the task see it, with the reason


#: a task's `review_hold`: its text waits for a person, or was removed (NULL: shown)
HELD = "HELD"
REMOVED = Moderation.REMOVED.value


class Standing(StrEnum):
    """The standing in which someone acted on a task, as recorded on its timeline."""

    REPORTER = "REPORTER"
    TEAM = "TEAM"  # triages: the compound's team and the roles above it
    ASSIGNEE = "ASSIGNEE"  # works it
    MEDIATOR = "MEDIATOR"
    RESIDENT = "RESIDENT"  # anyone else who may read it
    SYSTEM = "SYSTEM"  # the automatic close


class TaskAction(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    START = "START"
    RESOLVE = "RESOLVE"
    REOPEN = "REOPEN"
    RATE = "RATE"
    WITHDRAW = "WITHDRAW"
    AUTO_CLOSE = "AUTO_CLOSE"


STATUS_NAMES = {
    TaskStatus.SUBMITTED: "待受理",
    TaskStatus.ACCEPTED: "已立项",
    TaskStatus.REJECTED: "不予受理",
    TaskStatus.IN_PROGRESS: "办理中",
    TaskStatus.RESOLVED: "已办结",
    TaskStatus.CLOSED: "已关闭",
    TaskStatus.WITHDRAWN: "已撤回",
}


@dataclass(frozen=True)
class Transition:
    source: frozenset[TaskStatus]
    target: TaskStatus


TRANSITIONS: dict[TaskAction, Transition] = {
    TaskAction.ACCEPT: Transition(frozenset({TaskStatus.SUBMITTED}), TaskStatus.ACCEPTED),
    TaskAction.REJECT: Transition(frozenset({TaskStatus.SUBMITTED}), TaskStatus.REJECTED),
    TaskAction.START: Transition(frozenset({TaskStatus.ACCEPTED}), TaskStatus.IN_PROGRESS),
    TaskAction.RESOLVE: Transition(
        frozenset({TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS}), TaskStatus.RESOLVED
    ),
    TaskAction.REOPEN: Transition(frozenset({TaskStatus.RESOLVED}), TaskStatus.IN_PROGRESS),
    TaskAction.RATE: Transition(frozenset({TaskStatus.RESOLVED}), TaskStatus.CLOSED),
    TaskAction.WITHDRAW: Transition(frozenset({TaskStatus.SUBMITTED}), TaskStatus.WITHDRAWN),
    TaskAction.AUTO_CLOSE: Transition(frozenset({TaskStatus.RESOLVED}), TaskStatus.CLOSED),
}

#: states after which nothing more happens around a task (no assignment, meeting, call, mediation,
#: disclosure)
FINISHED = frozenset({TaskStatus.REJECTED, TaskStatus.CLOSED, TaskStatus.WITHDRAWN})

AUTO_CLOSE_AFTER = timedelta(days=7)
MAX_REOPENS = 1


class TransitionError(Exception):
    """Why a transition cannot happen from the state the task is in."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class TaskState:
    status: TaskStatus
    reopen_count: int = 0
    resolved_at: datetime | None = None


def transition(state: TaskState, action: TaskAction) -> TaskStatus:
    """The status after `action`, or `TransitionError` naming what stands in the way."""
    rule = TRANSITIONS[action]
    if state.status not in rule.source:
        raise TransitionError(
            f"事项当前状态为「{STATUS_NAMES[state.status]}」，不能进行这项操作，请刷新后再试。"
        )
    if action == TaskAction.REOPEN and state.reopen_count >= MAX_REOPENS:
        raise TransitionError("每个事项只能重新打开一次；如仍有问题，请重新反映。")
    return rule.target


def finished_message(status: TaskStatus, doing: str) -> str | None:
    """Why `doing` (安排专题会议, 发布费用公示, …) cannot happen on a task in this state; None
    while the task is still open for work."""
    if status == TaskStatus.REJECTED:
        return f"事项已不予受理，不能{doing}。"
    if status == TaskStatus.CLOSED:
        return f"事项已结束，不能{doing}。"
    if status == TaskStatus.WITHDRAWN:
        return f"事项已由反映人撤回，不能{doing}。"
    return None


def edit_problem(status: TaskStatus, *, triages: bool) -> str | None:
    """Why a task's text cannot be corrected now, or None: its reporter corrects it until someone
    accepts it, the team while it is worked; a finished task stays as it ended."""
    if status in FINISHED:
        return f"事项当前状态为「{STATUS_NAMES[status]}」，已不能修改。"
    if not triages and status != TaskStatus.SUBMITTED:
        return "事项已经立项，反映人不能再修改；如需更正，请在事项下留言。"
    return None


def due_for_auto_close(state: TaskState, now: datetime) -> bool:
    return (
        state.status == TaskStatus.RESOLVED
        and state.resolved_at is not None
        and now - state.resolved_at >= AUTO_CLOSE_AFTER
    )
