"""Check-ins: flow sessions, schedule changes, the scheduler tick, onboarding, history and trends."""
