"""Who is calling: API keys kept in a compacted topic, roles, and the resolved identity."""
