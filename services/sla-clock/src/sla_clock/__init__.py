"""The sla-clock service. Built in its own issue; for now only the package exists."""
