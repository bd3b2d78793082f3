"""HTTP clients of the auth service's APIs, parsing answers with the server's own models."""
