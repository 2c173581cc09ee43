"""Family support under the PIR's own consent (42 CFR Part 2): requests, scopes, disclosures."""
