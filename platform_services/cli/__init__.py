"""The `cloudml` command line (thin commands over the SDK)."""
