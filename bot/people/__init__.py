"""People in the program: enrolment and care teams, names, invites, on-call, lost contact, audience."""
