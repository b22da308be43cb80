"""Alerts: rules over the analytics views, their state, and notifications (docs/alerts.md)."""
