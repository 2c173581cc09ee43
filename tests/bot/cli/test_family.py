"""`peerline family link` asks the PIR; `family consents` and `disclosures` account for it (issue 15)."""

from __future__ import annotations

import csv
import io
import json

from tests.bot.cli.test_cli import _program, cli  # noqa: F401  (the fixture)


def test_family_link_asks_the_pir_and_stays_pending(cli) -> None:  # noqa: F811
    ids = _program(cli)
    link = json.loads(
        cli(
            "family", "link", "--family", "Jordan", "--pir", "Alex", "--share", "alerts",
            "--purpose", "so mom can sleep", "--expires", "2031-01-31", "--json",
        )
    )  # fmt: skip
    assert (link["state"], link["scope"], link["pir_id"], link["family_id"]) == (
        "pending",
        "alerts",
        ids["Alex"],
        ids["Jordan"],
    )
    assert link["purpose"] == "so mom can sleep" and link["answer_by"] is not None
    assert link["expires_at"].startswith("2031-02-01")  # the end of Jan 31 in Chicago, in UTC
    text = cli("family", "link", "--family", "Jordan", "--pir", "Alex", "--share", "status")
    assert "asked Alex to agree to share status with Jordan" in text and "waiting for YES" in text
    consents = json.loads(cli("family", "consents", "Alex", "--json"))
    # Asked again: only the newest request counts, and every request stays on record.
    assert [(c["scope"], c["state"]) for c in consents] == [("alerts", "replaced"), ("status", "pending")]
    assert consents[0]["purpose"] == "so mom can sleep" and consents[1]["signature"] == ""


def test_a_paper_consent_is_active_at_once_with_who_recorded_it(cli) -> None:  # noqa: F811
    _program(cli)
    link = json.loads(
        cli(
            "family", "link", "--family", "Jordan", "--pir", "Alex", "--share", "status",
            "--on-paper", "--recorded-by", "Dana", "--expires-on-discharge", "--json",
        )
    )  # fmt: skip
    assert (link["state"], link["expires_on_discharge"]) == ("active", True)
    (consent,) = json.loads(cli("family", "consents", "Jordan", "--json"))
    assert consent["signature"].startswith("paper, recorded by person:") and "(Dana)" in consent["signature"]
    assert "recorded Alex's paper consent" in cli(
        "family", "link", "--family", "Jordan", "--pir", "Alex", "--share", "none", "--on-paper"
    )


def test_family_link_refuses_bad_arguments_in_one_line(cli) -> None:  # noqa: F811
    _program(cli)
    base = ("family", "link", "--family", "Jordan", "--pir", "Alex", "--share", "status")
    cases = [
        (("--expires", "soon"), "bad --expires 'soon': use a date such as 2026-03-01"),
        (("--expires", "2020-01-01"), "already past: give a later date"),
        (("--expires", "2031-01-01", "--expires-on-discharge"), "not both"),
        (("--recorded-by", "Dana"), "--recorded-by goes with --on-paper"),
        (("--purpose", " "), "--purpose is empty"),
    ]
    for extra, wanted in cases:
        out = cli(*base, *extra, code=2)
        assert wanted in out, out
    refused = cli("family", "link", "--family", "Sam", "--pir", "Alex", "--share", "status", code=2)
    assert "Sam (id 1) is a peer, not a family" in refused


def test_disclosures_lists_none_yet_as_json_csv_and_table(cli) -> None:  # noqa: F811
    _program(cli)
    assert json.loads(cli("disclosures", "Alex", "--json")) == []
    rows = list(csv.reader(io.StringIO(cli("disclosures", "Alex", "--csv", "--from", "2026-01-01"))))
    assert rows == [
        ["at", "pir_id", "pir", "recipient_id", "recipient", "kind", "what", "channel", "consent_id"]
    ]
    assert "no disclosures" in cli("disclosures", "Alex")
    assert "give --csv or --json, not both" in cli("disclosures", "Alex", "--csv", "--json", code=2)
    assert "is before --from" in cli(
        "disclosures", "Alex", "--from", "2026-03-02", "--to", "2026-03-01", code=2
    )
