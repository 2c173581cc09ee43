"""Check-ins: flow sessions, schedule arithmetic and changes, the scheduler tick, onboarding, history."""
