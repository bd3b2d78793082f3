"""The `mana` command: one Typer app, one file per command group."""
