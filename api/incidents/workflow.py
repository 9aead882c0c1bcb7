"""The incident case workflow as a pure state machine (no database, no web).

States (``geo.layers.INCIDENT_STATUSES``)::

    reported --dispatch--> dispatched --accept--> accepted --start--> in_progress --resolve--> resolved
        |                      |                     |                    |
        +-------- close (close_reason: duplicate | not_responsible | no_action_possible) --> closed_other

Decisions, documented here and in the API description:

- ``decline``: a grid that was dispatched a case it cannot take returns it (dispatched -> reported),
  so the dispatcher routes it again.  Sign-off refused is a normal step of "吹哨报到".
- ``close`` is allowed from every open state: a duplicate or a case outside the grid's remit can be
  recognised at any point.  It needs a ``close_reason``; ``resolve`` must not carry one.
- ``reopen``: a *resolved* case whose fix did not hold goes back to ``in_progress`` (the same
  handler resumes it); a case *closed for another reason* goes back to ``reported`` (it was never
  handled, so it has to be dispatched again).  Reopening clears ``closed_at`` and ``close_reason``.
- ``escalate`` moves an open case one level up grid -> community -> town -> department, and
  ``deescalate`` one level down (a higher level handing a small matter back: "small matters stay in
  the grid").  Either way the receiving level has to sign for it, so the status becomes
  ``dispatched``.  Closed cases are reopened first; nothing escalates past ``department`` or below
  ``grid``.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.layers import CLOSE_REASONS, ESCALATION_LEVELS, INCIDENT_STATUSES

OPEN_STATUSES: tuple[str, ...] = ("reported", "dispatched", "accepted", "in_progress")
CLOSED_STATUSES: tuple[str, ...] = ("resolved", "closed_other")
assert set(OPEN_STATUSES + CLOSED_STATUSES) == set(INCIDENT_STATUSES)

#: action -> {from status: to status} for the status-only actions.
STATUS_MOVES: dict[str, dict[str, str]] = {
    "dispatch": {"reported": "dispatched"},
    "decline": {"dispatched": "reported"},
    "accept": {"dispatched": "accepted"},
    "start": {"accepted": "in_progress"},
    "resolve": {"in_progress": "resolved"},
    "close": {s: "closed_other" for s in OPEN_STATUSES},
    "reopen": {"resolved": "in_progress", "closed_other": "reported"},
}
LEVEL_MOVES: tuple[str, ...] = ("escalate", "deescalate")
ACTIONS: tuple[str, ...] = (*STATUS_MOVES, *LEVEL_MOVES)

#: The path an imported incident took to reach its status, as (action, from, to) steps after
#: "report".  Used to reconstruct events for historical imports.
PATH_TO: dict[str, tuple[tuple[str, str, str], ...]] = {
    "reported": (),
    "dispatched": (("dispatch", "reported", "dispatched"),),
    "accepted": (("dispatch", "reported", "dispatched"), ("accept", "dispatched", "accepted")),
    "in_progress": (
        ("dispatch", "reported", "dispatched"),
        ("accept", "dispatched", "accepted"),
        ("start", "accepted", "in_progress"),
    ),
    "resolved": (
        ("dispatch", "reported", "dispatched"),
        ("accept", "dispatched", "accepted"),
        ("start", "accepted", "in_progress"),
        ("resolve", "in_progress", "resolved"),
    ),
    "closed_other": (("close", "reported", "closed_other"),),
}


class InvalidRequest(ValueError):
    """The request itself is malformed whatever the case's state: an unknown ``action`` or a
    missing, unknown or misplaced ``close_reason``.  ``field`` names the culprit and ``allowed``
    the values it may take (empty when it must be left out)."""

    def __init__(self, reason: str, field: str, allowed: list[str]):
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.allowed = allowed


def check_request(action: str, close_reason: str | None = None) -> None:
    """Refuse a malformed request before looking at any case.

    Raises
    ------
    InvalidRequest
        ``action`` is not one of :data:`ACTIONS`; ``close`` without a ``close_reason`` from
        ``geo.layers.CLOSE_REASONS``; a ``close_reason`` given to another action.
    """
    if action not in ACTIONS:
        raise InvalidRequest(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}", "action", list(ACTIONS))
    if action == "close":
        if close_reason is None:
            raise InvalidRequest(f"close needs close_reason, one of {', '.join(CLOSE_REASONS)}", "close_reason",
                                 list(CLOSE_REASONS))
        if close_reason not in CLOSE_REASONS:
            raise InvalidRequest(f"close_reason {close_reason!r} is not one of {', '.join(CLOSE_REASONS)}",
                                 "close_reason", list(CLOSE_REASONS))
    elif close_reason is not None:
        raise InvalidRequest(f"close_reason is only for the close action, not {action}", "close_reason", [])


class InvalidTransition(ValueError):
    """``action`` is not possible from the case's state; ``allowed`` lists what is."""

    def __init__(self, reason: str, status: str, level: str, allowed: list[str]):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.level = level
        self.allowed = allowed


@dataclass(frozen=True)
class Transition:
    """The outcome of one action.

    Attributes
    ----------
    action, from_status, to_status, from_level, to_level : str
    closes : bool
        The case enters a closed state (set ``closed_at``).
    reopens : bool
        The case leaves a closed state (clear ``closed_at`` and ``close_reason``).
    close_reason : str or None
        The reason to store (only for ``close``).
    """

    action: str
    from_status: str
    to_status: str
    from_level: str
    to_level: str
    closes: bool
    reopens: bool
    close_reason: str | None


def allowed_actions(status: str, level: str) -> list[str]:
    """Actions possible from ``status`` at escalation ``level``, in workflow order."""
    out = [a for a, moves in STATUS_MOVES.items() if status in moves]
    if status in OPEN_STATUSES:
        i = ESCALATION_LEVELS.index(level)
        if i < len(ESCALATION_LEVELS) - 1:
            out.append("escalate")
        if i > 0:
            out.append("deescalate")
    return out


def apply(status: str, level: str, action: str, close_reason: str | None = None) -> Transition:
    """Apply ``action`` to a case in ``status`` at escalation ``level``.

    Raises
    ------
    InvalidRequest
        When the action is unknown, or ``close_reason`` is missing, unknown or given to an action
        that does not close (:func:`check_request`; a request error, whatever the state).
    InvalidTransition
        When the action is impossible from this state.
    """
    if status not in INCIDENT_STATUSES or level not in ESCALATION_LEVELS:
        raise ValueError(f"unknown state {status!r} / level {level!r}")
    check_request(action, close_reason)
    allowed = allowed_actions(status, level)
    if action not in allowed:
        raise InvalidTransition(f"cannot {action} an incident that is {status} at {level} level", status, level,
                                allowed)

    to_status, to_level = status, level
    if action in STATUS_MOVES:
        to_status = STATUS_MOVES[action][status]
    else:
        step = 1 if action == "escalate" else -1
        to_level = ESCALATION_LEVELS[ESCALATION_LEVELS.index(level) + step]
        to_status = "dispatched"
    return Transition(
        action=action,
        from_status=status,
        to_status=to_status,
        from_level=level,
        to_level=to_level,
        closes=to_status in CLOSED_STATUSES and status in OPEN_STATUSES,
        reopens=status in CLOSED_STATUSES and to_status in OPEN_STATUSES,
        close_reason=close_reason if action == "close" else None,
    )


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES
