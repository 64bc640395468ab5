"""llmapp."""
