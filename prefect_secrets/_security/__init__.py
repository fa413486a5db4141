"""The security context a flow or deployment declares: who it runs as (`identity`), which
secrets and tokens it needs, checked before its first task (`context`, `preflight`), and
how a work pool provides them (`job_variables`). Public names are exported, lazily, by
`prefect_secrets`."""
