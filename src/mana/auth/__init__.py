"""The auth service: users, sign-up/login, EdDSA JWTs + JWKS, refresh tokens, spaces."""
