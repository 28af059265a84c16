"""notify: escalation notifications, on-call routing and SLA reports delivered."""
