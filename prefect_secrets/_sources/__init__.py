"""Where secrets come from. Each source is one module implementing `SecretSource`."""
