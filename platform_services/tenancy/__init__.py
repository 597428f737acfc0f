"""Orgs (tenants) and their access keys."""
