"""The leak corpus: one small flow per pathway by which a secret value can leave a
Prefect flow process, run with prefect-secrets and with plain Prefect (the control),
then every byte left behind scanned for every reversible spelling of the values.

- catalog.py: the pathways and what is expected of each (pure data)
- values.py: fake values of realistic shapes, new per run
- runtime.py: how a flow obtains its values in each mode (library / plain)
- flows_*.py: the flows, one per pathway
- runner.py: the flow process (one per group of settings and mode)
- harness.py: runs the processes, waits for the server, checks what was stored, scans
- scan.py: spellings, and the scanner

tests/test_leak_corpus.py runs it; the research behind each pathway is in the
project's PATHWAYS notes.
"""
