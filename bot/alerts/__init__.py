"""Alerts: raising them from triage signals, the escalation lifecycle, and the pages staff receive."""
