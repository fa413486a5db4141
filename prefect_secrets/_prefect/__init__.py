"""What plugs into Prefect's task machinery: `SecretTask` and `SecretsTask` (`task`).
Importing it imports Prefect."""
