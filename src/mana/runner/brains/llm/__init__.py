"""The parts of the language-model brains; `mana.runner.brains.llm_common` gathers them."""
