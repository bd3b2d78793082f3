"""HTTP clients of the auth service's admin and internal APIs."""
