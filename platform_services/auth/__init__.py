"""Request authentication: AWS SigV4 (primary) and the seed SDK's Galaxy V3 (per key, compatibility)."""
