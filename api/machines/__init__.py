"""The machine registry as the API sees it: the compacted machines topic, in memory."""
