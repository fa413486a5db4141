"""Opt-in masking of well-known token formats, for secrets this library did not hand out.

    [settings]
    mask_patterns = ["aws", "github", "slack", "pem", "jwt"]      # built-ins, by name
    mask_regexes = ['corp-[A-Z0-9]{24}']                          # your own

| name        | what it masks                                                     |
|-------------|-------------------------------------------------------------------|
| aws         | AWS access key ids (`AKIA...`, `ASIA...`, 20 characters)          |
| github      | GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`) |
| slack       | Slack tokens (`xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`) and webhooks |
| pem         | PEM private key blocks, BEGIN to END                              |
| jwt         | JSON Web Tokens (three base64url parts, the first two `eyJ...`)   |
| gcp         | Google API keys (`AIza...`)                                       |
| stripe      | Stripe secret and restricted keys (`sk_live_`, `rk_live_`)        |
| url-password| the password of a URL's userinfo (`scheme://user:PASSWORD@host`)  |

Matches are masked in every place registered values are (logs, streams, what
Prefect sends to its API, events). A pattern cannot know a value: it masks what
looks like a token, which is why it is opt-in.
"""

from __future__ import annotations

__all__ = ["BUILTIN_PATTERNS"]

BUILTIN_PATTERNS: dict[str, str] = {
    "aws": r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
    "github": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    "slack": (
        r"\bxox[baprs]-[A-Za-z0-9-]{10,250}"
        r"|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"
    ),
    "pem": (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    ),
    "jwt": r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "gcp": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "stripe": r"\b(?:sk|rk)_live_[0-9A-Za-z]{16,}\b",
    # Only the password (the group `secret`): `scheme://user:` and `@host` stay readable.
    "url-password": r"\b[A-Za-z][A-Za-z0-9+.-]*://[^:@/\s]+:(?P<secret>[^@/\s]+)(?=@)",
}
