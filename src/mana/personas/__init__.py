"""Personas: synthetic users of the product, their catalog, credentials and lifecycle."""
