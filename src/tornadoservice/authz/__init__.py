"""authz layer."""
