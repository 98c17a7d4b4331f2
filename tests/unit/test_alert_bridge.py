"""The alert bridge's mapping from SLA events to Alertmanager alerts (no servers)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.alert_bridge import alert_for, answered_stage

NOW = datetime(2026, 11, 3, 2, 0, tzinfo=timezone.utc)


def event(level: str, **data) -> dict:
    base = {"complaint_id": "cmp-1", "stage": "first_response", "level": level, "opd": "dpupr", "kecamatan": "Wedi",
            "category": "jalan", "priority": "tinggi", "deadline": "2026-11-03T07:12:00+07:00",
            "opened": "2026-11-02T07:12:00+07:00", "escalation_target": None, "post_urls": [], "excerpt": None}
    base.update(data)
    return {"id": "brc-1", "source": "tanggap/klaten", "data": base}


def test_a_breach_becomes_an_alert_labelled_for_routing_that_ends_after_the_ttl():
    alert = alert_for(event("breached"), NOW, timedelta(hours=2))
    assert alert["labels"] == {"alertname": "TanggapComplaintBreach", "complaint_id": "cmp-1", "stage": "first_response",
                               "level": "breached", "severity": "critical", "opd": "dpupr", "kecamatan": "Wedi",
                               "category": "jalan", "priority": "tinggi", "source": "tanggap/klaten"}
    assert alert["startsAt"] == "2026-11-03T02:00:00.000000Z"
    assert alert["endsAt"] == "2026-11-03T04:00:00.000000Z"
    assert "generatorURL" not in alert


def test_missing_values_are_left_out_and_escalations_name_their_target():
    alert = alert_for(event("escalated_sekda", kecamatan=None, escalation_target="Sekda", post_urls=["https://x.com/p/1"]),
                      NOW, timedelta(hours=1))
    assert "kecamatan" not in alert["labels"]
    assert alert["annotations"]["escalation_target"] == "Sekda"
    assert alert["generatorURL"] == "https://x.com/p/1"
    assert alert_for(event("at_risk"), NOW, timedelta(hours=1))["labels"]["severity"] == "warning"


def test_answers_resolve_and_are_not_alerts_themselves():
    for level in ("met", "answered_late"):
        assert alert_for(event(level), NOW, timedelta(hours=1)) is None
        assert answered_stage(event(level)) == ("cmp-1", "first_response")
    assert answered_stage(event("breached")) is None
