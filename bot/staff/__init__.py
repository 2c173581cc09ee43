"""Peers and supervisors: the command grammar and handlers, what they read, caseloads."""
