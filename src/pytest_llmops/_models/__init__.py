"""Model backends, their registry and the client tests use."""
