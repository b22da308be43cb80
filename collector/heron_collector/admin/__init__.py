"""The admin endpoint and the CLI's two ways to the data: read-only SQL, refresh, views, settings, purge, alerts."""
