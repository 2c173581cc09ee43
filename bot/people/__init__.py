"""People in the program: enrolment and care teams, invites, on-call, lost contact, audience wording."""
