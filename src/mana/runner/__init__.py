"""The persona runner: claims due personas, lets a brain spend their day in the product through
the MCP tools, and posts every tool call and a rating per module back to the auth service."""
