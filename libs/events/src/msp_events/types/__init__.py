"""Event payloads, one module per domain. Each module lists its payloads in `EVENTS`."""
