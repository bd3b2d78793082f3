"""The product surface personas use: a tool registry and one file per product module.

Each module file defines its table(s) in the `app` schema and its tools with the `@tool`
decorator. Adding a tool is one decorated function in its module file; adding a module is one new
file in this package — the registry discovers both.
"""
