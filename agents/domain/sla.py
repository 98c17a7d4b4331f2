"""SLA policies and the first-response clock of one complaint, as pure functions.

A clock is a small dict (it lives in a faust table): opened, deadline, and the first response
once seen. Outcomes are decided by event time: a response counts as on time when its own
timestamp is before the deadline, however late it reaches the pipeline. A breach is emitted
either when the clock passes the deadline (plus a grace period for in-flight responses) or when
a response arrives that was already late, whichever comes first, and at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from schemas.events import BREACH_EVENT_TYPE_PREFIX, format_time, parse_time, stable_id

if TYPE_CHECKING:
    pass

STAGE_FIRST_RESPONSE = "first_response"
WHEN_KEYS = ("kind", "category", "priority", "opd")


class Calendar(Protocol):
    def add(self, start: float, seconds: float) -> float: ...
    def add_days(self, start: float, days: int) -> float: ...
    def between(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class Budget:
    hours: float | None
    working_days: int | None
    round_the_clock: bool

    def describe(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} working days"
        return f"{self.hours:g} hours {'round the clock' if self.round_the_clock else 'working time'}"


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    when: Mapping[str, frozenset[str]]
    first_response: Budget

    def matches(self, complaint: Mapping[str, Any]) -> bool:
        return all(complaint.get(key) in allowed for key, allowed in self.when.items())


@dataclass(frozen=True)
class SlaPolicies:
    policies: tuple[Policy, ...]
    working: Calendar
    round_the_clock: Calendar
    round_the_clock_opds: frozenset[str]

    def select(self, complaint: Mapping[str, Any]) -> Policy | None:
        for policy in self.policies:
            if policy.matches(complaint):
                return policy
        return None

    def calendar_for(self, budget: Budget, opd: str | None) -> Calendar:
        if budget.round_the_clock or opd in self.round_the_clock_opds:
            return self.round_the_clock
        return self.working

    def deadline(self, budget: Budget, opd: str | None, opened_at: float) -> float:
        calendar = self.calendar_for(budget, opd)
        if budget.working_days is not None:
            return calendar.add_days(opened_at, budget.working_days)
        return calendar.add(opened_at, (budget.hours or 0.0) * 3600.0)


def open_clock(opened: Mapping[str, Any], policies: SlaPolicies) -> dict[str, Any] | None:
    """The clock for a complaint's `opened` event, or None if no policy applies."""
    policy = policies.select(opened)
    if policy is None:
        return None
    opened_at = parse_time(opened["occurred_at"])
    budget = policy.first_response
    return {
        "complaint_id": opened["complaint_id"],
        "policy": policy.id,
        "stage": STAGE_FIRST_RESPONSE,
        "working_clock": not (budget.round_the_clock or opened.get("opd") in policies.round_the_clock_opds),
        "opened_at": opened_at,
        "deadline": policies.deadline(budget, opened.get("opd"), opened_at),
        "opd": opened.get("opd"),
        "category": opened.get("category"),
        "priority": opened.get("priority"),
        "kecamatan": opened.get("kecamatan"),
        "platform": (opened.get("first_post") or {}).get("platform"),
        "url": (opened.get("first_post") or {}).get("url"),
        "mentions": opened.get("mentions") or 1,
        "responded_at": None,
        "responded_by": None,
        "breached": False,
    }


@dataclass(frozen=True, slots=True)
class Response:
    """What a first response did to a clock."""

    outcome: str  # "met" or "answered_late"
    wall_seconds: float
    working_seconds: float
    late: bool


def record_response(clock: dict[str, Any], at: float, by: str | None, policies: SlaPolicies) -> Response | None:
    """Stop the clock at the first response; later responses change nothing (returns None)."""
    if clock.get("responded_at") is not None:
        return None
    clock["responded_at"] = at
    clock["responded_by"] = by
    opened_at = clock["opened_at"]
    wall = max(0.0, at - opened_at)
    working = policies.working.between(opened_at, at) if clock["working_clock"] else wall
    late = at > clock["deadline"]
    return Response("answered_late" if late else "met", wall, working, late)


def is_due(clock: Mapping[str, Any], now: float) -> bool:
    return clock.get("responded_at") is None and not clock.get("breached") and now > clock["deadline"]


def breach_event(clock: Mapping[str, Any], *, emitted_at: float, overdue_until: float,
                 policies: SlaPolicies, source: str, tz: Any, level: str = "breached") -> dict[str, Any]:
    """A CloudEvents 1.0 (structured JSON) breach event; its id depends only on the complaint,
    stage and level, so a re-emission after a crash carries the same id."""
    complaint_id = clock["complaint_id"]
    deadline = clock["deadline"]
    overdue_wall = max(0.0, overdue_until - deadline)
    overdue_working = policies.working.between(deadline, overdue_until) if clock["working_clock"] else overdue_wall
    return {
        "specversion": "1.0",
        "id": stable_id("brc", complaint_id, clock["stage"], level),
        "source": source,
        "type": BREACH_EVENT_TYPE_PREFIX + level,
        "subject": complaint_id,
        "time": format_time(emitted_at),
        "datacontenttype": "application/json",
        "data": {
            "complaint_id": complaint_id,
            "stage": clock["stage"],
            "level": level,
            "policy": clock["policy"],
            "opd": clock["opd"],
            "kecamatan": clock["kecamatan"],
            "category": clock["category"],
            "priority": clock["priority"],
            "platform": clock["platform"],
            "opened": format_time(clock["opened_at"], tz),
            "deadline": format_time(deadline, tz),
            "emitted": format_time(emitted_at, tz),
            "overdue_wall_seconds": round(overdue_wall, 3),
            "overdue_working_seconds": round(overdue_working, 3),
            "responded_at": format_time(clock["responded_at"], tz) if clock.get("responded_at") else None,
            "mentions": clock.get("mentions") or 1,
            "post_urls": [clock["url"]] if clock.get("url") else [],
        },
    }
