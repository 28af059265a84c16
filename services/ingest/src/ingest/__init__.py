"""The ingest service: webhooks and raw Kafka topics in, validated canonical events
out. See services/ingest/README.md."""
