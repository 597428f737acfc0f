"""Training jobs: the request spec, the states, submission with admission, and the API routes."""
