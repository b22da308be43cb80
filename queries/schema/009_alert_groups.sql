-- ml_alert_notifications.firing: the fingerprints a notification listed as firing, so the next
-- evaluation knows what its group last said (group_interval: what changed since; a group whose
-- last notification listed none is over, and a new one waits group_wait). docs/alerts.md.
ALTER TABLE {{db}}.ml_alert_notifications {{on_cluster}} ADD COLUMN IF NOT EXISTS firing Array(String) AFTER alerts;
