"""Parsers for each native format. Each returns accepted rows and quarantined rows (with a reason)."""
