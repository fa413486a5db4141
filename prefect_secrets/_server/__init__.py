"""The Prefect server as a store: where it is (`endpoint`), one HTTP client for reads and
writes (`client`), the answer cache (`cache`) and single-flight fetches (`flight`).

Nothing here imports Prefect or httpx until a server operation runs.
"""
