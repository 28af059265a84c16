"""The incidents service: built by its own issue; only the package exists so far."""
