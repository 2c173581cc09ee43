"""Reports for the program and its payers: outcomes over a period and H0038 billing lines."""
