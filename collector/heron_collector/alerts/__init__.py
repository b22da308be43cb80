"""Alerts: rules over the analytics views, their state, and notifications to the channels teams
use (docs/alerts.md). rules: what to watch; evaluate: states over the views; notification,
channels, delivery, dispatch: what is sent, where and how."""
