"""Mana Personas: synthetic users that exercise a product through its real auth and tool surface."""

__version__ = "0.1.0"
