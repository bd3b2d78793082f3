"""Findings: what the personas found, per module over time, and the regression alerts on it."""
