# The services on Fargate, in the private subnets:
#   ingest     a Kafka consumer group of ingest_min_count..ingest_max_count tasks, scaled on lag
#   dashboard  behind the load balancer, at https://<domain_name>/ (signed in there, alb.tf)
#   api        behind the load balancer, at https://api.<domain_name>/ (API keys)
#   compress   hourly, and report daily: EventBridge Scheduler tasks (or Lambda, lambda.tf)
#   migrate    `deleton db init`, run by every apply that changes its task definition, before
#              the services and jobs roll (terraform_data.migrate)
# Each has its own log group, task role and secrets; no secret is ever a plain variable.

resource "aws_ecs_cluster" "main" {
  #checkov:skip=CKV_AWS_223:ECS Exec serves only the admin task (below), whose output is the credentials an operator makes (screen links, API keys, login links): a log of its sessions would keep them. Who opened a session, on which task and with what command is in CloudTrail (ExecuteCommand).
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      logging = "NONE"
    }
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
      # not read by the app: raising secret_generation changes every task definition (and each
      # Lambda function's configuration), so that every service rolls onto the new secrets
      { name = "SECRET_GENERATION", value = tostring(var.secret_generation) },
    ],
    var.kafka_sasl_username == null ? [] : [
      { name = "DELETON_KAFKA_SASL_USERNAME", value = var.kafka_sasl_username },
    ],
  )

  # What one service alone is told, nothing secret either: the dashboard's links and the load
  # balancer whose signed identity header it trusts; the API's rate limit, and the one proxy
  # (the load balancer) whose X-Forwarded-For hop names the client.
  service_environment = {
    dashboard = [
      { name = "DELETON_PUBLIC_URL", value = "https://${var.domain_name}" },
      { name = "DELETON_ALB_ARN", value = aws_lb.web.arn },
      { name = "DELETON_OIDC_ROLE_CLAIM", value = local.role_claim },
      # the app's session, which alone authorises Dash's requests (the load balancer lets
      # /_dash-* through unauthenticated), ends with the load balancer's sign-in session
      { name = "DELETON_SESSION_LIFETIME", value = tostring(var.sign_in_session_hours * 3600) },
    ]
    api = [
      { name = "DELETON_API_RATE_LIMIT", value = tostring(var.api_rate_limit) },
      # the audit's client: the address the load balancer appends to X-Forwarded-For
      { name = "DELETON_TRUSTED_PROXIES", value = "1" },
    ]
  }

  kafka_secret = var.kafka_sasl_password_secret_arn == null ? [] : [
    { name = "DELETON_KAFKA_SASL_PASSWORD", valueFrom = var.kafka_sasl_password_secret_arn },
  ]
  db_url = { for login, secret in aws_secretsmanager_secret.db_url : login => secret.arn }
  app    = { for name, secret in aws_secretsmanager_secret.app : name => secret.arn }

  # Each service's secrets: the database login it needs (its URL and, as PGPASSWORD, its
  # password), and nothing else.
  secrets = {
    ingest = concat([
      { name = "DELETON_DATABASE_URL", valueFrom = local.db_url["writer"] },
      { name = "PGPASSWORD", valueFrom = local.password_secret["writer"] },
    ], local.kafka_secret)
    compress = [
      { name = "DELETON_DATABASE_URL", valueFrom = local.db_url["writer"] },
      { name = "PGPASSWORD", valueFrom = local.password_secret["writer"] },
    ]
    dashboard = [
      { name = "DELETON_READER_DATABASE_URL", valueFrom = local.db_url["reader"] },
      { name = "PGPASSWORD", valueFrom = local.password_secret["reader"] },
      { name = "DELETON_SESSION_SECRET", valueFrom = local.app["session-secret"] },
      { name = "DELETON_SCREEN_SECRET", valueFrom = local.app["screen-secret"] },
    ]
    report = [
      { name = "DELETON_READER_DATABASE_URL", valueFrom = local.db_url["reader"] },
      { name = "PGPASSWORD", valueFrom = local.password_secret["reader"] },
    ]
    api = [
      { name = "DELETON_API_DATABASE_URL", valueFrom = local.db_url["api"] },
      { name = "PGPASSWORD", valueFrom = local.password_secret["api"] },
      { name = "DELETON_API_KEY", valueFrom = local.app["api-key"] },
    ]
    # the admin task (below): the API's keys, accounts, sign-in links and screens are made
    # with the operator's login alone (migrations 0019, 0020); no task but ingest and compress
    # holds the writer's
    admin = [
      { name = "DELETON_OPERATOR_DATABASE_URL", valueFrom = local.db_url["operator"] },
      { name = "PGPASSWORD", valueFrom = local.password_secret["operator"] },
      { name = "DELETON_SCREEN_SECRET", valueFrom = local.app["screen-secret"] },
    ]
    migrate = concat(
      [
        { name = "DELETON_DATABASE_URL", valueFrom = local.db_url["admin"] },
        { name = "PGPASSWORD", valueFrom = local.password_secret["admin"] },
      ],
      [for login in local.logins :
      { name = "DELETON_DB_${upper(login)}_PASSWORD", valueFrom = local.password_secret[login] }],
    )
  }
  # the secrets themselves, each task's: a JSON key's reference (ARN:key::) names its secret's
  # ARN first
  secret_arns = {
    for task, secrets in local.secrets : task => distinct([for v in secrets : join(":", slice(split(":", v.valueFrom), 0, 7))])
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
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ecs:${var.region}:${local.account}:*"]
    }
  }
}

# Each task's execution role starts it: pulls the image from this repository, writes into
# its own log group, and reads its own secrets and no other (the master's password only the
# migration's); decrypting with the key only as Secrets Manager reads them. In place of AWS's
# managed execution policy, which allows every repository and every log group.
resource "aws_iam_role" "execution" {
  for_each           = local.secrets
  name               = "${local.name}-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.secrets
  name     = "start"
  role     = aws_iam_role.execution[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "PullImage"
          Effect   = "Allow"
          Action   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
          Resource = [aws_ecr_repository.deleton.arn]
        },
        {
          Sid      = "SignInToRegistry" # an account's registry token: it names no resource
          Effect   = "Allow"
          Action   = ["ecr:GetAuthorizationToken"]
          Resource = ["*"]
        },
        {
          Sid      = "ReadOwnSecrets"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = local.secret_arns[each.key]
        },
        {
          Sid       = "DecryptThemThroughSecretsManager"
          Effect    = "Allow"
          Action    = ["kms:Decrypt"]
          Resource  = [aws_kms_key.main.arn]
          Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" } }
        },
      ],
      contains(keys(local.services), each.key) ? [{
        Sid      = "WriteOwnLog"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [aws_cloudwatch_log_group.service[each.key].arn, "${aws_cloudwatch_log_group.service[each.key].arn}:*"]
      }] : [],
    )
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
  execution_role_arn       = aws_iam_role.execution[each.key].arn
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
      memory                 = each.value.memory # all of the task's (the emulator's RunTask needs it)
      readonlyRootFilesystem = true
      user                   = "10001:10001"
      environment            = concat(local.environment, lookup(local.service_environment, each.key, []))
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

# --- the admin task: the operator's way to make accounts, links and keys ----------------------
# `deleton users`, `login-link`, `screen-link` and `api-key` print credentials. On AWS they run
# in this task, started by an operator (aws ecs run-task --enable-execute-command) and used
# through ECS Exec (aws ecs execute-command), so that what they print reaches the operator's
# terminal and nothing else: the task has no log configuration, and the cluster logs no ECS
# Exec session. It idles for an hour, then stops; it serves nothing. README: Deploy.

resource "aws_iam_role" "admin" {
  name               = "${local.name}-admin"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks.json
}

# ECS Exec's agent in the task opens its channels to Session Manager; these actions name no
# resource
resource "aws_iam_role_policy" "admin" {
  name = "ecs-exec"
  role = aws_iam_role.admin.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
      Resource = ["*"]
    }]
  })
}

resource "aws_ecs_task_definition" "admin" {
  #checkov:skip=CKV_AWS_336:ECS Exec's agent writes into the container's file system, which a read-only root refuses (aws-containers/amazon-ecs-exec-checker#21); this task serves nothing and stops itself within the hour
  family                   = "${local.name}-admin"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution["admin"].arn
  task_role_arn            = aws_iam_role.admin.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "home"
  }

  # no logConfiguration: what the operator's commands print goes to their terminal only
  container_definitions = jsonencode([{
    name                   = "admin"
    image                  = local.image
    essential              = true
    entryPoint             = ["sleep"]
    command                = ["3600"]
    memory                 = 512
    readonlyRootFilesystem = false
    user                   = "10001:10001"
    environment = concat(local.environment, [
      { name = "DELETON_PUBLIC_URL", value = "https://${var.domain_name}" },
    ])
    secrets         = local.secrets["admin"]
    mountPoints     = [{ sourceVolume = "home", containerPath = "/var/lib/deleton" }]
    linuxParameters = { initProcessEnabled = true } # ECS Exec's sessions are reaped
  }])
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

  depends_on = [terraform_data.migrate]
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

  # the first health checks come while the app still starts (the dashboard loads its fleet)
  health_check_grace_period_seconds = 120

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # the target groups take traffic only once a listener's rule forwards to them; and new code
  # runs only on a migrated database
  depends_on = [aws_lb_listener.https, aws_lb_listener_rule.api, aws_lb_listener_rule.dashboard,
  aws_lb_listener_rule.dashboard_public, terraform_data.migrate]
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
  # each branch a document of its own: a conditional's two results must have one type
  policy = var.jobs_on_lambda ? jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [for f in aws_lambda_function.job : f.arn]
    }]
    }) : jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect = "Allow"
        Action = ["ecs:RunTask"]
        # RunTask names a revision (family:7): the family alone matches none
        Resource  = [for job in ["compress", "report"] : "${aws_ecs_task_definition.service[job].arn_without_revision}:*"]
        Condition = { ArnLike = { "ecs:cluster" = aws_ecs_cluster.main.arn } }
      },
      {
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = flatten([for job in ["compress", "report"] : [aws_iam_role.execution[job].arn, aws_iam_role.task[job].arn]])
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
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

  depends_on = [terraform_data.migrate]
}

# --- migrations, before anything new runs -----------------------------------------------------

# `deleton db init` as a one-off task whenever its task definition changes (a new image, new
# settings) or the generated secrets do (it gives the logins their new passwords): after the
# database, its secrets, the network and the execution role's policies exist, before the
# services, jobs and functions that depend on this roll. deploy/migrate.sh runs it, waits for
# it to stop and fails the apply unless it exited 0.
resource "terraform_data" "migrate" {
  triggers_replace = [aws_ecs_task_definition.service["migrate"].arn, var.secret_generation]

  provisioner "local-exec" {
    command = "\"${path.module}/../migrate.sh\""
    environment = {
      REGION          = var.region
      CLUSTER         = aws_ecs_cluster.main.name
      TASK_DEFINITION = aws_ecs_task_definition.service["migrate"].arn
      SUBNETS         = join(",", local.private_subnet_ids)
      SECURITY_GROUP  = aws_security_group.workers.id
      LOG_GROUP       = aws_cloudwatch_log_group.service["migrate"].name
    }
  }

  depends_on = [
    aws_db_instance.main,
    aws_secretsmanager_secret_version.db_url,
    aws_secretsmanager_secret_version.db_password,
    aws_iam_role_policy.execution,
    aws_route_table_association.private,
    aws_vpc_security_group_egress_rule.out_db,
    aws_vpc_security_group_egress_rule.out_https,
    aws_vpc_security_group_ingress_rule.db_from_services,
  ]
}
