"""`GET /metrics` after a check-in and a red flag: the counters moved, in Prometheus text format."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.server import make_web_app
from tests.bot.careteam import Driver


async def _scrape(app: App) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with TestClient(TestServer(make_web_app(app))) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_check_in_and_a_red_flag_move_the_counters(drive: Driver) -> None:
    before = await _scrape(drive.app)
    assert all(name.startswith("peerline_") for name, _ in before)
    assert not [k for k in before if k[0] == "peerline_alerts"]
    await drive.at(0)  # Alex's 09:00 check-in goes out
    await drive.say("alex", "I want to kill myself")
    after = await _scrape(drive.app)

    def value(name: str, **labels: str) -> float:
        return after.get((name, tuple(sorted(labels.items()))), 0.0)

    outbound = value("peerline_messages_total", channel="console", direction="out")
    inbound = value("peerline_messages_total", channel="console", direction="in")
    assert (
        inbound
        == before.get(("peerline_messages_total", (("channel", "console"), ("direction", "in"))), 0) + 1
    )
    assert outbound > before.get(
        ("peerline_messages_total", (("channel", "console"), ("direction", "out"))), 0
    )
    assert value("peerline_alerts", severity="critical", state="open") == 1
    assert value("peerline_outbox_oldest_due_age_seconds") == 0.0  # everything due was delivered


async def test_this_process_measures_latencies_outcomes_steps_and_ticks(drive: Driver) -> None:
    before = await _scrape(drive.app)

    def moved(after: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    await drive.at(0)
    await drive.say("alex", "I want to kill myself")  # a crisis: paged to Sam at once
    await drive.say("alex", "thanks")
    await drive.at(6)  # nobody acknowledged: the backup is paged
    after = await _scrape(drive.app)
    assert moved(after, "peerline_inbound_total", channel="console", outcome="alert") == 1
    assert moved(after, "peerline_inbound_total", channel="console", outcome="handled") >= 1
    assert moved(after, "peerline_inbound_handling_seconds_count", channel="console") == 2
    assert moved(after, "peerline_alert_page_seconds_count", severity="critical") == 1  # the first page
    assert moved(after, "peerline_escalation_steps_total", tier="peer") == 1
    assert moved(after, "peerline_escalation_steps_total", tier="backup") == 1
    assert moved(after, "peerline_tick_seconds_count") == 2
    assert after[("peerline_due_backlog", (("kind", "checkins"),))] == 0  # the ticks did what was due
    assert all(name.startswith("peerline_") for name, _ in after)
