"""The shared daily LLM budget: one ledger per UTC day in the database, for every runner."""
