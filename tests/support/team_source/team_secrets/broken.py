"""A plug-in that fails to import, as one with a missing dependency does."""

import team_secrets_missing_dependency  # noqa: F401
