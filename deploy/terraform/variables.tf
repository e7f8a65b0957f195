# --- where --------------------------------------------------------------------------------

variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-west-2"
}

variable "environment" {
  description = "Name of this deployment (production, staging, ...): part of every resource name and of the state's key."
  type        = string
  default     = "production"

  # 14: the target groups' names, deleton-ENVIRONMENT-dashboard, may have 32 characters. No
  # hyphen at the end or twice in a row: RDS identifiers and load balancer names refuse them.
  validation {
    condition     = length(var.environment) <= 14 && can(regex("^[a-z](-?[a-z0-9])+$", var.environment))
    error_message = "environment: 2 to 14 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "state_bucket" {
  description = "S3 bucket of the Terraform state. Read by deploy/deploy.sh from the tfvars file for -backend-config (a backend cannot read variables); unused by the configuration itself."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Protect the database, the load balancer and the sign-in user pool from deletion. False only for a throwaway environment (the emulator test)."
  type        = bool
  default     = true
}

variable "secret_generation" {
  description = "Generation of the generated secrets (logins' passwords, API key, session and screen secrets). Raise it by one to generate new values on the next apply; they are written once, never stored in the state. The same apply runs deleton db init again (the logins get their new passwords) and rolls every service and function onto them."
  type        = number
  default     = 1
}

# --- network ------------------------------------------------------------------------------

variable "vpc_id" {
  description = "An existing VPC to deploy into. Null: a new VPC with public and private subnets across two zones is created."
  type        = string
  default     = null
}

variable "public_subnet_ids" {
  description = "With vpc_id: at least two public subnets, in different zones, for the load balancer."
  type        = list(string)
  default     = []
}

variable "private_subnet_ids" {
  description = "With vpc_id: at least two private subnets, in different zones, with a route out (NAT), for the services and the database."
  type        = list(string)
  default     = []
}

variable "availability_zones" {
  description = "The two zones of the VPC created when vpc_id is null. Null: the region's zones a and b."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null ? true : length(var.availability_zones) == 2
    error_message = "availability_zones: exactly two."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when vpc_id is null."
  type        = string
  default     = "10.40.0.0/16"
}

variable "nat_gateway_per_zone" {
  description = "One NAT gateway per zone (survives a zone's loss) rather than one in all."
  type        = bool
  default     = false
}

variable "allowed_cidrs" {
  description = "Who may reach the load balancer (dashboard and API): your offices' and gyms' ranges. No default: opening it to the world is a choice to write down."
  type        = list(string)

  validation {
    condition     = length(var.allowed_cidrs) > 0 && alltrue([for c in var.allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_cidrs: at least one CIDR block, such as 203.0.113.0/24."
  }
}

variable "domain_name" {
  description = "The dashboard's host name (deleton.example.com); the API is served at api.<domain_name>. Point both at the load balancer (outputs)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain_name))
    error_message = "domain_name: a lowercase DNS name such as deleton.example.com."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the load balancer, covering domain_name and api.<domain_name>. Required: nothing is served over plain HTTP."
  type        = string
}

variable "oidc" {
  description = "Your identity provider for the dashboard's host (the load balancer's authenticate-oidc). Null: a Cognito user pool made here signs staff in (authenticate-cognito). role_claim names the claim that carries deleton-staff / deleton-admin; the load balancer passes on only what the provider's userinfo endpoint answers for scope, so that claim must come back from there (Okta: add groups to scope; Entra ID never returns groups there)."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    role_claim             = optional(string, "groups")
    scope                  = optional(string, "openid email profile")
  })
  default = null
}

variable "oidc_client_secret" {
  description = "The client secret of var.oidc. The load balancer's rule holds it, so it is in the state (the provider has no write-only form of it): keep the state bucket private."
  type        = string
  default     = null
  sensitive   = true
}

variable "sign_in_session_hours" {
  description = "How long a sign-in lasts: the load balancer's session (then the identity provider is asked again) and the dashboard's own (DELETON_SESSION_LIFETIME), which authorises Dash's requests."
  type        = number
  default     = 12
  validation {
    # the load balancer's session_timeout is at most 7 days
    condition     = var.sign_in_session_hours >= 1 && var.sign_in_session_hours <= 168
    error_message = "sign_in_session_hours: 1 to 168 (the load balancer's limit, 7 days)."
  }
}

variable "waf_rate_limit" {
  description = "Requests one client address may make in 5 minutes before the WAF blocks it for a while. A gym's bike screens share one address and each polls about once a second, so leave room for them."
  type        = number
  default     = 20000
}

variable "alb_log_retention_days" {
  description = "Days the load balancer's access logs are kept in their bucket."
  type        = number
  default     = 90
}

# --- database -----------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class of PostgreSQL."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_engine_version" {
  description = "PostgreSQL major version on RDS (14 or later)."
  type        = string
  default     = "17"
}

variable "db_allocated_storage_gb" {
  description = "Initial storage; it grows on its own up to db_max_allocated_storage_gb."
  type        = number
  default     = 100
}

variable "db_max_allocated_storage_gb" {
  description = "Ceiling of storage autoscaling."
  type        = number
  default     = 1000
}

variable "db_multi_az" {
  description = "A standby in a second zone, for failover."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days: 1 to 35."
  }
}

# --- Kafka (external: Confluent Cloud or Amazon MSK) ---------------------------------------

variable "kafka_bootstrap_servers" {
  description = "Brokers of the bikes' topic, host:port[,host:port]."
  type        = string
}

variable "kafka_topic" {
  description = "The bikes' topic."
  type        = string
  default     = "deloton"
}

variable "kafka_group_id" {
  description = "Consumer group shared by every ingest task."
  type        = string
  default     = "deleton-ingest"
}

variable "kafka_security_protocol" {
  description = "SASL_SSL for Confluent Cloud and MSK with SASL/SCRAM; SSL for MSK with TLS."
  type        = string
  default     = "SASL_SSL"
}

variable "kafka_sasl_username" {
  description = "SASL user (a Confluent Cloud API key). Null: no SASL."
  type        = string
  default     = null
}

variable "kafka_sasl_password_secret_arn" {
  description = "Secrets Manager secret holding the SASL password (a Confluent Cloud API secret), as plain text. Made outside Terraform, so it never enters its state."
  type        = string
  default     = null
}

# --- services -----------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the deleton image in the ECR repository to run (deploy/deploy.sh pushes it)."
  type        = string
}

variable "ingest_min_count" {
  description = "Ingest tasks at least; they share the consumer group's partitions."
  type        = number
  default     = 2
}

variable "ingest_max_count" {
  description = "Ingest tasks at most: no more than the topic's partitions, as more would idle."
  type        = number
  default     = 8
}

variable "ingest_lag_target" {
  description = "Messages any one ingest task may be behind before more tasks are started."
  type        = number
  default     = 100000
}

variable "dashboard_count" {
  description = "Dashboard tasks behind the load balancer."
  type        = number
  default     = 2
}

variable "api_count" {
  description = "API tasks behind the load balancer."
  type        = number
  default     = 2
}

variable "api_rate_limit" {
  description = "Requests a second each API key may make, per API task (DELETON_API_RATE_LIMIT)."
  type        = number
  default     = 20
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps each service's logs (they carry ids, never personal data)."
  type        = number
  default     = 365
}

variable "jobs_on_lambda" {
  description = "Run the scheduled compression and report as container-image Lambda functions instead of ECS tasks."
  type        = bool
  default     = false
}

variable "alarm_topic_arn" {
  description = "An SNS topic of yours that the alarms notify (monitoring.tf's, and a scheduled job on Lambda that failed every attempt). Null: the alarms still change state in CloudWatch, but nobody is told."
  type        = string
  default     = null
}

# The alarms' thresholds (monitoring.tf), the same as deploy/monitoring/alerts.yml's.

variable "ingest_lag_alarm" {
  description = "Messages the most-behind ingest task may be behind for 15 minutes before the ingest-lag alarm (100,000: ingest_lag_target's default, where scaling adds tasks)."
  type        = number
  default     = 100000
}

variable "outbox_alarm_minutes" {
  description = "Minutes in a row with heart-rate alert emails waiting throughout before the outbox alarm; under 15, after which an unsent alert is dropped."
  type        = number
  default     = 5

  validation {
    condition     = var.outbox_alarm_minutes >= 1 && var.outbox_alarm_minutes < 15
    error_message = "outbox_alarm_minutes: 1 to 14."
  }
}

variable "dead_letters_alarm" {
  description = "Dead letters in 5 minutes, across the ingest tasks, exceeded in two periods in a row before the dead-letter alarm (30: 0.1 a second)."
  type        = number
  default     = 30
}

variable "compress_missing_alarm_hours" {
  description = "Clock hours in a row without any compression run reported before the compression-not-run alarm: 2 with the hourly compress_schedule (one empty hour can be a run a few minutes late), more with a sparser one."
  type        = number
  default     = 2

  validation {
    condition     = var.compress_missing_alarm_hours >= 2 && var.compress_missing_alarm_hours <= 24
    error_message = "compress_missing_alarm_hours: 2 to 24."
  }
}

variable "bikes_flagged_alarm" {
  description = "Bikes with an open health finding (any kind, offline included) above which the bikes-flagged alarm is raised."
  type        = number
  default     = 0
}

variable "compress_schedule" {
  description = "EventBridge Scheduler expression of compression."
  type        = string
  default     = "rate(1 hour)"
}

variable "report_schedule" {
  description = "EventBridge Scheduler expression of the daily report, in report_timezone."
  type        = string
  default     = "cron(0 17 * * ? *)"
}

variable "report_timezone" {
  description = "Time zone of the report's calendar days and of its schedule (DELETON_REPORT_TZ)."
  type        = string
  default     = "Europe/London"
}

variable "report_recipients" {
  description = "Who receives the daily report."
  type        = list(string)
  default     = []
}

# --- mail (Amazon SES) --------------------------------------------------------------------

variable "mail_from" {
  description = "Sender of alerts and reports; its domain becomes an SES identity (DKIM records to publish are in the outputs)."
  type        = string
}
