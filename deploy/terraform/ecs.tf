# The services on Fargate, in the private subnets:
#   ingest     a Kafka consumer group of ingest_min_count..ingest_max_count tasks, scaled on lag
#   dashboard  behind the load balancer, at /
#   api        behind the load balancer, at /ride, /rider, /daily, /bikes, /health, /docs
#   compress   hourly, and report daily: EventBridge Scheduler tasks (or Lambda, lambda.tf)
#   migrate    `deleton db init`, run once per release by deploy/deploy.sh
# Each has its own log group, task role and secrets; no secret is ever a plain variable.

resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

locals {
  services = {
    ingest    = { cpu = 1024, memory = 2048, command = ["ingest", "--metrics-port", "9100"], health = "http://127.0.0.1:9100/healthz", port = null }
    dashboard = { cpu = 512, memory = 1024, command = ["dashboard"], health = "http://127.0.0.1:8050/healthz", port = 8050 }
    api       = { cpu = 512, memory = 1024, command = ["api"], health = "http://127.0.0.1:8000/health", port = 8000 }
    compress  = { cpu = 1024, memory = 2048, command = ["compress"], health = null, port = null }
    report    = { cpu = 1024, memory = 2048, command = ["report", "--send"], health = null, port = null }
    migrate   = { cpu = 256, memory = 512, command = ["db", "init"], health = null, port = null }
  }

  # What every task is told; nothing secret.
  environment = concat(
    [
      { name = "DELETON_HOME", value = "/var/lib/deleton" },
      { name = "MPLCONFIGDIR", value = "/var/lib/deleton/.matplotlib" },
      { name = "DELETON_LOG_LEVEL", value = "INFO" },
      { name = "DELETON_KAFKA_BOOTSTRAP_SERVERS", value = var.kafka_bootstrap_servers },
      { name = "DELETON_KAFKA_TOPIC", value = var.kafka_topic },
      { name = "DELETON_KAFKA_GROUP_ID", value = var.kafka_group_id },
      { name = "DELETON_KAFKA_SECURITY_PROTOCOL", value = var.kafka_security_protocol },
      { name = "DELETON_MAIL_BACKEND", value = "ses" },
      { name = "DELETON_MAIL_FROM", value = var.mail_from },
      { name = "DELETON_AWS_REGION", value = var.region },
      { name = "DELETON_REPORT_TZ", value = var.report_timezone },
      { name = "DELETON_REPORT_RECIPIENTS", value = join(",", var.report_recipients) },
      { name = "DELETON_METRICS_EMF", value = "true" },
    ],
    var.kafka_sasl_username == null ? [] : [
      { name = "DELETON_KAFKA_SASL_USERNAME", value = var.kafka_sasl_username },
    ],
  )

  kafka_secret = var.kafka_sasl_password_secret_arn == null ? [] : [
    { name = "DELETON_KAFKA_SASL_PASSWORD", valueFrom = var.kafka_sasl_password_secret_arn },
  ]
  db_url = { for login, secret in aws_secretsmanager_secret.db_url : login => secret.arn }

  # Each service's secrets: the database login it needs, and nothing else.
  secrets = {
    ingest    = concat([{ name = "DELETON_DATABASE_URL", valueFrom = local.db_url["writer"] }], local.kafka_secret)
    compress  = [{ name = "DELETON_DATABASE_URL", valueFrom = local.db_url["writer"] }]
    dashboard = [{ name = "DELETON_READER_DATABASE_URL", valueFrom = local.db_url["reader"] }]
    report    = [{ name = "DELETON_READER_DATABASE_URL", valueFrom = local.db_url["reader"] }]
    api = [
      { name = "DELETON_API_DATABASE_URL", valueFrom = local.db_url["api"] },
      { name = "DELETON_API_KEY", valueFrom = aws_secretsmanager_secret.api_key.arn },
    ]
    migrate = concat(
      [{ name = "DELETON_DATABASE_URL", valueFrom = local.db_url["admin"] }],
      [for login, secret in aws_secretsmanager_secret.db_password :
      { name = "DELETON_DB_${upper(login)}_PASSWORD", valueFrom = secret.arn }],
    )
  }

  # Who sends email: alerts (ingest) and the report.
  senders = toset(["ingest", "report"])
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = local.services
  name              = "/deleton/${var.environment}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# --- roles -------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ecs:${var.region}:${local.account}:*"]
    }
  }
}

# The execution role starts tasks: pulls the image, writes logs, reads each task's secrets.
resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secrets" {
  name = "secrets"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = distinct(flatten([for s in values(local.secrets) : [for v in s : v.valueFrom]]))
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.main.arn]
      },
    ]
  })
}

# Each task's own role: what its code may do in AWS. Only the senders may send email, and
# only as the sender's identity; the others may do nothing.
resource "aws_iam_role" "task" {
  for_each           = local.services
  name               = "${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

resource "aws_iam_role_policy" "task_ses" {
  for_each = local.senders
  name     = "ses-send"
  role     = aws_iam_role.task[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["ses:SendRawEmail"]
      Resource = [aws_sesv2_email_identity.sender.arn]
    }]
  })
}

# --- task definitions -----------------------------------------------------------------------

resource "aws_ecs_task_definition" "service" {
  for_each                 = local.services
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # the root file system is read-only; DELETON_HOME (reports, caches) is a scratch volume
  volume {
    name = "home"
  }

  container_definitions = jsonencode([merge(
    {
      name                   = each.key
      image                  = local.image
      essential              = true
      command                = each.value.command
      readonlyRootFilesystem = true
      user                   = "10001:10001"
      environment            = local.environment
      secrets                = local.secrets[each.key]
      mountPoints            = [{ sourceVolume = "home", containerPath = "/var/lib/deleton" }]
      stopTimeout            = 30 # SIGTERM first: ingestion commits and leaves the group
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
          awslogs-region        = var.region
          awslogs-stream-prefix = each.key
        }
      }
      portMappings = each.value.port == null ? [] : [
        { containerPort = each.value.port, protocol = "tcp" },
      ]
    },
    each.value.health == null ? {} : {
      healthCheck = {
        command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('${each.value.health}', timeout=5)"]
        interval    = 30
        timeout     = 10
        retries     = 3
        startPeriod = 60
      }
    },
  )])
}

# --- long-running services ------------------------------------------------------------------

resource "aws_ecs_service" "ingest" {
  name                   = "ingest"
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.service["ingest"].arn
  desired_count          = var.ingest_min_count
  launch_type            = "FARGATE"
  propagate_tags         = "SERVICE"
  enable_execute_command = false

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.workers.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count] # the autoscaler's
  }
}

resource "aws_ecs_service" "web" {
  for_each               = { dashboard = var.dashboard_count, api = var.api_count }
  name                   = each.key
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.service[each.key].arn
  desired_count          = each.value
  launch_type            = "FARGATE"
  propagate_tags         = "SERVICE"
  enable_execute_command = false

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.web.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.web[each.key].arn
    container_name   = each.key
    container_port   = local.services[each.key].port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.http]
}

# --- ingest scales out on consumer lag (CloudWatch EMF from each task) -------------------------

resource "aws_appautoscaling_target" "ingest" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.ingest.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.ingest_min_count
  max_capacity       = var.ingest_max_count
}

resource "aws_appautoscaling_policy" "ingest_lag" {
  name               = "${local.name}-ingest-lag"
  service_namespace  = aws_appautoscaling_target.ingest.service_namespace
  resource_id        = aws_appautoscaling_target.ingest.resource_id
  scalable_dimension = aws_appautoscaling_target.ingest.scalable_dimension
  policy_type        = "TargetTrackingScaling"

  target_tracking_scaling_policy_configuration {
    target_value       = var.ingest_lag_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 600 # a rebalance costs a few seconds of every member's time

    # the most any one member is behind: it falls as members share the partitions
    customized_metric_specification {
      namespace   = "Deleton"
      metric_name = "ConsumerLag"
      statistic   = "Maximum"

      dimensions {
        name  = "ConsumerGroup"
        value = var.kafka_group_id
      }
    }
  }
}

# --- load balancer: the dashboard at /, the API at its paths ------------------------------------

resource "aws_lb" "web" {
  #checkov:skip=CKV_AWS_91:access logs need a bucket policy per region; CloudWatch has each request's service log
  #checkov:skip=CKV2_AWS_28:a WAF is an account-wide choice, attached outside this module
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = local.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
}

resource "aws_lb_target_group" "web" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; from it to the tasks is inside the private subnets
  for_each    = { dashboard = "/healthz", api = "/health" }
  name        = "${local.name}-${each.key}"
  port        = local.services[each.key].port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = local.vpc_id

  health_check {
    path                = each.value
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  deregistration_delay = 30
}

locals {
  https = var.certificate_arn != null
  # the API's paths (five to a rule, the load balancer's limit)
  api_paths = [
    ["/ride/*", "/rider/*", "/daily", "/bikes", "/health"],
    ["/docs", "/docs/*", "/openapi.json"],
  ]
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.web.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web["dashboard"].arn
  }
}

# With a certificate, port 80 only redirects to HTTPS; without one it serves, for a first try.
resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:HTTP serves only while no certificate_arn is given; with one it redirects
  #checkov:skip=CKV_AWS_103:as above
  #checkov:skip=CKV2_AWS_20:as above
  load_balancer_arn = aws_lb.web.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.web["dashboard"].arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener_rule" "api" {
  count        = length(local.api_paths)
  listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
  priority     = 10 + count.index

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web["api"].arn
  }

  condition {
    path_pattern {
      values = local.api_paths[count.index]
    }
  }
}

# --- scheduled jobs on ECS (jobs_on_lambda = false) ---------------------------------------------

resource "aws_iam_role" "scheduler" {
  name = "${local.name}-scheduler"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
}

resource "aws_iam_role_policy" "scheduler" {
  name = "run-jobs"
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = var.jobs_on_lambda ? [{
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [for f in aws_lambda_function.job : f.arn]
      }] : [
      {
        Effect   = "Allow"
        Action   = ["ecs:RunTask"]
        Resource = [for job in ["compress", "report"] : aws_ecs_task_definition.service[job].arn_without_revision]
        Condition = { ArnLike = { "ecs:cluster" = aws_ecs_cluster.main.arn } }
      },
      {
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = [aws_iam_role.execution.arn, aws_iam_role.task["compress"].arn, aws_iam_role.task["report"].arn]
      },
    ]
  })
}

locals {
  schedules = {
    compress = { expression = var.compress_schedule, timezone = "UTC" }
    report   = { expression = var.report_schedule, timezone = var.report_timezone }
  }
}

resource "aws_scheduler_schedule" "job" {
  #checkov:skip=CKV_AWS_297:a schedule holds a task definition's ARN and subnets, nothing secret; AWS's own key suffices
  for_each                     = local.schedules
  name                         = "${local.name}-${each.key}"
  schedule_expression          = each.value.expression
  schedule_expression_timezone = each.value.timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.jobs_on_lambda ? aws_lambda_function.job[each.key].arn : aws_ecs_cluster.main.arn
    role_arn = aws_iam_role.scheduler.arn

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }

    dynamic "ecs_parameters" {
      for_each = var.jobs_on_lambda ? [] : [1]
      content {
        task_definition_arn = aws_ecs_task_definition.service[each.key].arn_without_revision
        launch_type         = "FARGATE"
        task_count          = 1

        network_configuration {
          subnets          = local.private_subnet_ids
          security_groups  = [aws_security_group.workers.id]
          assign_public_ip = false
        }
      }
    }
  }
}
