"""Helpers shared by the tests and the bench: real servers, worker processes, scanners.

Nothing here is a test; `python -m bench` imports these too (run from the repository root).
"""
