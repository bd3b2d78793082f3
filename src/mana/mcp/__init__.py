"""The MCP tool server: the product's tools over MCP Streamable HTTP, for valid user tokens only.

`app.create_mcp_app` builds it; `auth` is the gate (token via JWKS, space, protocol era),
`gateway` bridges MCP to the tool registry, `jwks` caches the auth service's public keys,
`limits` refuses oversized bodies and batches as JSON-RPC errors, and `faults` is the
development-only fault mode (`MANA_FAULTS`).
"""
