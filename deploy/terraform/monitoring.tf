# CloudWatch alarms on the figures the services write as Embedded Metric Format lines
# (namespace Deleton, src/deleton/cloudwatch/emf.py): what deploy/monitoring/alerts.yml
# watches with Prometheus, as near as these figures allow. Each notifies alarm_topic_arn, if
# set, when it goes into alarm and when it clears.
#
# Ingest tasks report every few seconds under ConsumerGroup: ConsumerLag (the task's messages
# behind), DeadLetters (since its previous line) and OutboxBacklog (alert emails waiting).
# Each compression run, on ECS or Lambda, reports once under Job = compress: CompressionRuns
# (1), CompressionFailures (1 if it failed, else 0), RidesSummarised and BikesFlagged (bikes
# with an open health finding, every kind).

locals {
  ingest_metrics   = { ConsumerGroup = var.kafka_group_id }
  compress_metrics = { Job = "compress" }
}

# The most any task is behind, over the whole period: autoscaling (ecs.tf) adds tasks at
# ingest_lag_target, so a lag that stays above the alarm's threshold for 15 minutes is one
# that scaling did not bring down. No figure at all is as bad: no ingest task is running,
# or none knows its lag (the broker is out of reach).
resource "aws_cloudwatch_metric_alarm" "ingest_lag" {
  alarm_name          = "${local.name}-ingest-lag"
  alarm_description   = "Ingestion is more than ${var.ingest_lag_alarm} messages behind for 15 minutes, or reports no lag: readings and heart-rate alerts are late. See the ingest tasks' log and health, the database's load; raise ingest_max_count up to the topic's partitions."
  namespace           = "Deleton"
  metric_name         = "ConsumerLag"
  dimensions          = local.ingest_metrics
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.ingest_lag_alarm
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Heart-rate alert emails waiting in every minute of outbox_alarm_minutes: alerts are few
# (one per ride and kind at most) and sent within seconds, so an outbox that never empties
# is one that cannot send (mail refused or away). An alert unsent 15 minutes after its
# reading is dropped (DELETON_ALERT_MAX_AGE). Only the count reaches CloudWatch; Prometheus
# alerts on the oldest one's age instead.
resource "aws_cloudwatch_metric_alarm" "outbox_backlog" {
  alarm_name          = "${local.name}-outbox-backlog"
  alarm_description   = "Heart-rate alert emails have waited to be sent for ${var.outbox_alarm_minutes} minutes; at 15 they are dropped unsent. See the ingest tasks' log for the mail error and SES's sending status."
  namespace           = "Deleton"
  metric_name         = "OutboxBacklog"
  dimensions          = local.ingest_metrics
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = var.outbox_alarm_minutes
  datapoints_to_alarm = var.outbox_alarm_minutes
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Bad messages stored in daily.dead_letter, summed over every task's lines: two 5-minute
# periods in a row above dead_letters_alarm (30: 0.1 a second).
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${local.name}-dead-letters"
  alarm_description   = "Ingestion stored more than ${var.dead_letters_alarm} dead letters in each of two 5-minute periods. Read daily.dead_letter's newest reasons: a bike's firmware, a producer writing another format, clocks beyond DELETON_MAX_CLOCK_SKEW."
  namespace           = "Deleton"
  metric_name         = "DeadLetters"
  dimensions          = local.ingest_metrics
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.dead_letters_alarm
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A run failed in the last hour (on Lambda, any attempt). It clears after an hour without a
# failure; runs that stop altogether are the next alarm's to say.
resource "aws_cloudwatch_metric_alarm" "compression_failing" {
  alarm_name          = "${local.name}-compression-failing"
  alarm_description   = "A compression run failed in the last hour: ended rides are not summarised and their detail stays in daily. The compress task's (or function's) log says why."
  namespace           = "Deleton"
  metric_name         = "CompressionFailures"
  dimensions          = local.compress_metrics
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# No run reported at all for compress_missing_alarm_hours clock hours in a row: the schedule
# stopped, the task cannot start, or it died before reporting (killed, out of memory).
# Missing data is what this alarm is about, so it breaches.
resource "aws_cloudwatch_metric_alarm" "compression_not_run" {
  alarm_name          = "${local.name}-compression-not-run"
  alarm_description   = "No compression run has reported for ${var.compress_missing_alarm_hours} hours (it runs on ${var.compress_schedule}). See the scheduler's ${local.name}-compress schedule, the cluster's stopped tasks (or the function's errors) and the compress log."
  namespace           = "Deleton"
  metric_name         = "CompressionRuns"
  dimensions          = local.compress_metrics
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = var.compress_missing_alarm_hours
  datapoints_to_alarm = var.compress_missing_alarm_hours
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Bikes with an open health finding after the last run, every kind together (offline
# included; Prometheus tells the kinds apart). An hour without a run keeps the state.
resource "aws_cloudwatch_metric_alarm" "bikes_flagged" {
  alarm_name          = "${local.name}-bikes-flagged"
  alarm_description   = "More than ${var.bikes_flagged_alarm} bikes have an open health finding after the last compression run. The dashboard's /maintenance page (or GET /bikes/health) lists them with the evidence."
  namespace           = "Deleton"
  metric_name         = "BikesFlagged"
  dimensions          = local.compress_metrics
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.bikes_flagged_alarm
  treat_missing_data  = "ignore"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
