"""Governance: tamper evidence for published versions and the hash-chained audit log."""
