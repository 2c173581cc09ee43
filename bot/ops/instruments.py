"""What this process measures as it works, for `GET /metrics` beside the database's figures.

One registry per process (`INSTRUMENTS`), every name prefixed `peerline_`: handling latency and
outcomes of inbound messages, the time from an alert to its first page, escalation steps by tier,
and tick durations.
(Everything countable from the database — messages, alerts, the outbox, due work — is read there at
scrape time instead, so every process reports it alike; see `bot.ops.metrics`.) Also the process's
memory, CPU and open files (`peerline_process_*`), where the platform tells them (Linux).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

INSTRUMENTS = CollectorRegistry(auto_describe=True)
ProcessCollector(namespace="peerline", registry=INSTRUMENTS)

# Seconds; from a few milliseconds (a batched reply) to the minutes a held or escalated page can take.
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PAGE = (0.1, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 600.0, 1800.0, 3600.0)

INBOUND = Counter(
    "peerline_inbound",
    "Inbound messages handled, by channel and outcome (alert, handled, duplicate)",
    ["channel", "outcome"],
    registry=INSTRUMENTS,
)
HANDLING = Histogram(
    "peerline_inbound_handling_seconds",
    "From an inbound message reaching the pipeline to its transaction committed",
    ["channel"],
    buckets=_FAST,
    registry=INSTRUMENTS,
)
ALERT_TO_PAGE = Histogram(
    "peerline_alert_page_seconds",
    "From an alert's creation to its first page queued to a person, by severity",
    ["severity"],
    buckets=_PAGE,
    registry=INSTRUMENTS,
)
ESCALATION_STEPS = Counter(
    "peerline_escalation_steps",
    "Pages queued by the escalation chain, by tier (peer, backup, supervisor, on-call, ...)",
    ["tier"],
    registry=INSTRUMENTS,
)
TICK = Histogram(
    "peerline_tick_seconds", "Duration of one scheduler tick", buckets=_FAST, registry=INSTRUMENTS
)


def outcome_label(*, duplicate: bool, alerted: bool) -> str:
    return "duplicate" if duplicate else "alert" if alerted else "handled"
