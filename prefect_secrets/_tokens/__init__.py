"""Tokens: secrets minted on demand (OAuth2 client credentials, GCP ID tokens, Kubernetes
service-account tokens), declared once and read like any other secret.

| module        | what it holds                                                          |
|---------------|------------------------------------------------------------------------|
| `base`        | `Token` (a declaration: names of other secrets, never values),         |
|               | `MintedToken`, the config-table reader, retries, expiry                |
| `oauth2`      | `OAuth2ClientCredentials` (authlib)                                    |
| `gcp`         | `GcpIdToken` (google-auth)                                             |
| `kubernetes`  | `KubernetesServiceAccountToken` (lightkube TokenRequest/TokenReview)   |
| `registry`    | the declared tokens: `[tokens.NAME]` tables and `declare_tokens(...)`  |
| `cache`       | minted tokens, reused until shortly before they expire; single flight  |

Each SDK is imported inside `mint`, never at module import.
"""
