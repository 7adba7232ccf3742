"""The task lifecycle (DESIGN §3) as a pure state machine.

    SUBMITTED ──accept──▶ ACCEPTED ──start──▶ IN_PROGRESS ──resolve──▶ RESOLVED ──close──▶ CLOSED
        │                    │                                            │  ▲
        └──reject──▶ REJECTED└──────────────resolve───────────────────────┘  │ (rate, or 7 days)
                                                                   reopen ──┘ once, by the reporter

Each transition says who may make it and what it needs: a reason to reject or reopen, a resolution
text to resolve. Who "the team" is for a given task is the policy's business (`auth.policy`); this
module only knows the actor's standing as a plain value.
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


class Action(StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    START = "START"
    RESOLVE = "RESOLVE"
    REOPEN = "REOPEN"
    RATE = "RATE"
    AUTO_CLOSE = "AUTO_CLOSE"


class Actor(StrEnum):
    """The actor's standing toward the task, as decided by the policy."""

    TEAM = "TEAM"  # triages: the compound's team and the roles above it
    WORKER = "WORKER"  # works it: the team, or an assignee
    REPORTER = "REPORTER"
    SYSTEM = "SYSTEM"


STATUS_NAMES = {
    TaskStatus.SUBMITTED: "待受理",
    TaskStatus.ACCEPTED: "已立项",
    TaskStatus.REJECTED: "不予受理",
    TaskStatus.IN_PROGRESS: "办理中",
    TaskStatus.RESOLVED: "已办结",
    TaskStatus.CLOSED: "已关闭",
}


@dataclass(frozen=True)
class Transition:
    source: frozenset[TaskStatus]
    target: TaskStatus
    actors: frozenset[Actor]


TRANSITIONS: dict[Action, Transition] = {
    Action.ACCEPT: Transition(
        frozenset({TaskStatus.SUBMITTED}), TaskStatus.ACCEPTED, frozenset({Actor.TEAM})
    ),
    Action.REJECT: Transition(
        frozenset({TaskStatus.SUBMITTED}), TaskStatus.REJECTED, frozenset({Actor.TEAM})
    ),
    Action.START: Transition(
        frozenset({TaskStatus.ACCEPTED}), TaskStatus.IN_PROGRESS, frozenset({Actor.TEAM, Actor.WORKER})
    ),
    Action.RESOLVE: Transition(
        frozenset({TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS}),
        TaskStatus.RESOLVED,
        frozenset({Actor.TEAM, Actor.WORKER}),
    ),
    Action.REOPEN: Transition(
        frozenset({TaskStatus.RESOLVED}), TaskStatus.IN_PROGRESS, frozenset({Actor.REPORTER})
    ),
    Action.RATE: Transition(frozenset({TaskStatus.RESOLVED}), TaskStatus.CLOSED, frozenset({Actor.REPORTER})),
    Action.AUTO_CLOSE: Transition(
        frozenset({TaskStatus.RESOLVED}), TaskStatus.CLOSED, frozenset({Actor.SYSTEM})
    ),
}

#: states after which nothing more happens around a task (no assignment, meeting, call, mediation)
FINISHED = frozenset({TaskStatus.REJECTED, TaskStatus.CLOSED})

AUTO_CLOSE_AFTER = timedelta(days=7)
MAX_REOPENS = 1


class TransitionError(Exception):
    """Why a transition cannot happen: `kind` is `conflict` (state) or `forbidden` (who)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class TaskState:
    status: TaskStatus
    reopen_count: int = 0
    resolved_at: datetime | None = None


def transition(state: TaskState, action: Action, actors: frozenset[Actor]) -> TaskStatus:
    """The status after `action`, or `TransitionError` naming what stands in the way."""
    rule = TRANSITIONS[action]
    if rule.actors.isdisjoint(actors):
        raise TransitionError("forbidden", "您没有权限进行这项操作。")
    if state.status not in rule.source:
        raise TransitionError(
            "conflict", f"事项当前状态为「{STATUS_NAMES[state.status]}」，不能进行这项操作，请刷新后再试。"
        )
    if action == Action.REOPEN and state.reopen_count >= MAX_REOPENS:
        raise TransitionError("conflict", "每个事项只能重新打开一次；如仍有问题，请重新反映。")
    return rule.target


def due_for_auto_close(state: TaskState, now: datetime) -> bool:
    return (
        state.status == TaskStatus.RESOLVED
        and state.resolved_at is not None
        and now - state.resolved_at >= AUTO_CLOSE_AFTER
    )
