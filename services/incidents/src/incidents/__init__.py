"""The incidents service: triage of monitoring events into incidents and proactive
tickets (triage state in Postgres), with a Postgres query model and HTTP API. See README.md."""
