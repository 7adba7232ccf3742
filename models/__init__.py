"""Tables and the pure domain rules that belong to them. Imports no other package of ours."""

from models.apiclient import ApiClient
from models.person import Home, PartyProfile, Person, RoleAssignment, TeamPosition
from models.place import Building, Community, Compound, Grid, Household

__all__ = [
    "ApiClient",
    "Building",
    "Community",
    "Compound",
    "Grid",
    "Home",
    "Household",
    "PartyProfile",
    "Person",
    "RoleAssignment",
    "TeamPosition",
]

from models.vote import Ballot, Vote, VoteElector, VoteOwner, VoteTally

__all__ += ["Ballot", "Vote", "VoteElector", "VoteOwner", "VoteTally"]

from models.task import (  # noqa: E402
    CostDisclosure,
    CostShare,
    DisputeOutcome,
    Meeting,
    MeetingAttendee,
    Participation,
    Task,
    TaskEvent,
    TaskMember,
    VolunteerCall,
    VolunteerSignup,
)

__all__ += [
    "CostDisclosure",
    "CostShare",
    "DisputeOutcome",
    "Meeting",
    "MeetingAttendee",
    "Participation",
    "Task",
    "TaskEvent",
    "TaskMember",
    "VolunteerCall",
    "VolunteerSignup",
]
