"""Stand-ins for what cannot run here: hosted model APIs (as local servers speaking their wire
formats) and the MCP toolbox (in memory, recorded exactly like the real one)."""
