"""The built-in sources, one module each, and the registry that orders them (`registry`).

Each implements the public contract in `prefect_secrets.sources`.
"""
