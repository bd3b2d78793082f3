"""Spaces: every user's personal space, and shared spaces joined by invitation."""
