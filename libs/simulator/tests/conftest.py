"""msp_simulator tests: the generator is pure (no broker, no database)."""
