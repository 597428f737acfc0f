"""Operator tooling for the GPU platform: the `platformctl` CLI and the local lab."""
