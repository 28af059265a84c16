"""A deterministic simulated MSP month (customers, devices, alerts, tickets, work)."""
