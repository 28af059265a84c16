"""The billing service. Built in its own issue; for now only the package and its migrations folder exist."""
