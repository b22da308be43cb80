"""Heron alerts: rules and their evaluation, and the delivery of what they find.

Delivery lives in `notification` (what is sent: `Alert`, `Notification`), `channels` (where:
Slack, PagerDuty, a signed webhook, Alertmanager, Airflow) and `dispatch` (how: one bounded
queue and worker per channel). Import the names from those modules.
"""
