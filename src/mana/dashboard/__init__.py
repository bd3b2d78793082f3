"""The web dashboard (`mana serve dashboard`): findings, alerts, personas and ticks, as pages."""
