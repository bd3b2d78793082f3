"""Small shared pieces used by several domains (errors, clock, pagination)."""
