"""Adapters: pure functions from a tool's own payload to canonical events. They only
parse; authentication, tenancy, dedupe and publishing are the pipeline's (views ->
service), the same for every adapter."""
