"""Cross-cutting protection of the API: rate limits, audit, metrics, start-up checks."""
