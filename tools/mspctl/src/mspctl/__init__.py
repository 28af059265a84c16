"""mspctl: the operators' command line."""
