"""The HTTP layer: app factory, middleware, error mapping, health and metrics."""
