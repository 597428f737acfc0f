"""The job-submission service: signed multi-tenant REST API, quotas, training jobs, local runner, CLI, SDK."""
