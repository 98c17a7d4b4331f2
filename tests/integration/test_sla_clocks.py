"""SLA clocks through the real broker and real workers: a rebalance in the middle of running
clocks, and responses racing their deadline. Each test asserts the exact set of SLA events by id
(consumers dedupe by id, so that is what they see).

Runs on the real clock with budgets of seconds (and escalations at 1.2x and 1.4x), so a test
takes about as long as its longest budget; outcomes of the race are decided by event time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from agents.domain.sla import sla_event_id
from streams.demo import Outcome
from streams.kafka import produce
from tests.conftest import copy_config, wait_for
from tests.integration.test_restart import post

pytestmark = pytest.mark.integration

BUDGET_SECONDS = 20.0
GRACE_SECONDS = 6.0
SLA_TOML = f"""
[calendar]
timezone = "Asia/Jakarta"
working_hours = {{ mon = ["07:30", "16:00"], tue = ["07:30", "16:00"], wed = ["07:30", "16:00"], thu = ["07:30", "16:00"], fri = ["07:30", "16:00"] }}
holiday_country = "ID"

[alerts]
at_risk_share = 0.5
escalate_opd_head_at = 1.2
escalate_sekda_at = 1.4

[[policy]]
id = "seconds"
first_response = {{ hours = {BUDGET_SECONDS / 3600!r}, clock = "24x7" }}
"""
ALERTS = ("at_risk", "breached", "escalated_opd_head", "escalated_sekda")
# One complaint per kecamatan: the same wording in one place at one instant would be one
# complaint (near-duplicates), and these tests need distinct clocks.
KECAMATAN = ("Wedi", "Bayat", "Cawas", "Trucuk", "Pedan", "Ceper", "Delanggu", "Jatinom", "Kemalang", "Tulung")


def complaint_text(i: int) -> str:
    if i % 2:
        return f"Lampu jalan di kecamatan {KECAMATAN[i]} mati total, mohon diperbaiki"
    return f"Jalan di kecamatan {KECAMATAN[i]} rusak parah dan berlubang, mohon diperbaiki"


@pytest.fixture(scope="module")
def deployment(deployment_factory, tmp_path_factory):
    config = copy_config(tmp_path_factory.mktemp("sla-config"))
    (config / "sla.toml").write_text(SLA_TOML)
    deployment = deployment_factory(config, TANGGAP_SLA_GRACE_SECONDS=str(GRACE_SECONDS))
    deployment.worker()
    return deployment


def opened_ids(settings, post_ids: set[str]) -> dict[str, str] | None:
    outcome = asyncio.run(Outcome.read(settings))
    opened = {e["first_post"]["post_id"]: e["complaint_id"] for e in outcome.complaints if e["type"] == "opened"}
    return opened if post_ids <= set(opened) else None


def sla_ids(settings) -> set[str]:
    return {b["id"] for b in asyncio.run(Outcome.read(settings)).breaches}


def settle(settings, expected: set[str], timeout: float) -> set[str]:
    wait_for(lambda: sla_ids(settings) >= expected, timeout=timeout, message=f"{len(expected)} SLA events")
    time.sleep(3)  # room for a wrong extra emission to show up
    return sla_ids(settings)


def test_a_rebalance_moves_running_clocks_without_losing_or_doubling_events(deployment):
    settings = deployment.settings
    now = datetime.now(timezone.utc)
    post_ids = {f"71{i:02d}" for i in range(8)}  # spread over the 4 partitions
    asyncio.run(produce(settings, settings.topic("posts.raw"),
                        [post(pid, complaint_text(i), now) for i, pid in enumerate(sorted(post_ids))]))
    opened = wait_for(lambda: opened_ids(settings, post_ids), timeout=60, message="8 complaints opened")

    second = deployment.worker()  # joins while every clock is running: partitions move
    expected = {sla_event_id(cid, "first_response", level) for cid in opened.values() for level in ALERTS}
    assert settle(settings, expected, timeout=120) == expected
    assert all(worker.alive() for worker in deployment.workers), second.log()[-3000:]


def test_a_response_racing_its_deadline_is_decided_by_event_time(deployment):
    settings = deployment.settings
    now = datetime.now(timezone.utc)
    deadline = now + timedelta(seconds=BUDGET_SECONDS)
    complaints = [post("7201", complaint_text(8), now), post("7202", complaint_text(9), now)]  # places the other test does not use
    asyncio.run(produce(settings, settings.topic("posts.raw"), complaints))
    opened = wait_for(lambda: opened_ids(settings, {"7201", "7202"}), timeout=60, message="2 complaints opened")
    official = {"id": "o-dishub", "handle": "dishubklaten"}
    # Both replies reach the pipeline after the deadline (inside the grace period): the one
    # written a second before it is on time, the one written a second after it is late.
    in_time = post("7203", "Terima kasih, petugas segera ke lokasi", deadline - timedelta(seconds=1),
                   reply_to="7201", author=official)
    late = post("7204", "Terima kasih, petugas segera ke lokasi", deadline + timedelta(seconds=1),
                reply_to="7202", author=official)
    time.sleep(max(0.0, deadline.timestamp() + 1.5 - time.time()))
    asyncio.run(produce(settings, settings.topic("posts.raw"), [in_time, late]))

    on_time_id, late_id = opened["7201"], opened["7202"]
    expected = {
        sla_event_id(on_time_id, "first_response", "at_risk"),
        sla_event_id(on_time_id, "first_response", "met"),
        sla_event_id(late_id, "first_response", "at_risk"),
        sla_event_id(late_id, "first_response", "breached"),
        sla_event_id(late_id, "first_response", "answered_late"),
    }
    mine = {sla_event_id(cid, "first_response", level) for cid in (on_time_id, late_id)
            for level in (*ALERTS, "met", "answered_late")}
    assert settle(settings, expected, timeout=90) & mine == expected
