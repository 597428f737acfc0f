"""Smoke checks of role `etcd` on the members of group `etcd`."""
