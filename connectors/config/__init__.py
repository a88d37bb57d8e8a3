"""What a connector is told: the devices file (devices, tags, commands), its settings, and
which devices of the file this process polls (shards)."""
