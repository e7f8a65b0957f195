# Optional (jobs_on_lambda = true): compression and the report as container-image Lambda
# functions, from the same image, instead of ECS tasks. The scheduler (ecs.tf) then invokes
# them. Lambda has no secrets injection of its own: the function reads its database URL from
# Secrets Manager as it starts (DELETON_SECRET_ARNS, see src/deleton/lambdas.py), so the URL
# never sits in its configuration.
#
# The scheduler invokes a function asynchronously: its retry policy covers only Lambda's
# accepting the event, not the function failing. Lambda retries a failed run twice, then
# sends the event and the error to an encrypted queue; an alarm watches that queue and each
# function's errors, so that a report that was never sent does not go unnoticed.

locals {
  lambda_jobs = var.jobs_on_lambda ? {
    compress = {
      handler = "deleton.lambdas.compress"
      timeout = 900
      secrets = { DELETON_DATABASE_URL = aws_secretsmanager_secret.db_url["writer"].arn, PGPASSWORD = aws_secretsmanager_secret.db_password["writer"].arn }
    }
    report = {
      handler = "deleton.lambdas.report"
      timeout = 300
      secrets = { DELETON_READER_DATABASE_URL = aws_secretsmanager_secret.db_url["reader"].arn, PGPASSWORD = aws_secretsmanager_secret.db_password["reader"].arn }
    }
  } : {}
}

resource "aws_iam_role" "lambda" {
  for_each           = local.lambda_jobs
  name               = "${local.name}-lambda-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

resource "aws_iam_role_policy_attachment" "lambda_vpc" {
  for_each   = local.lambda_jobs
  role       = aws_iam_role.lambda[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambda_jobs
  name     = "job"
  role     = aws_iam_role.lambda[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = values(each.value.secrets)
        },
        # the secrets, as Secrets Manager reads them; the configuration, as Lambda reads it
        {
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = [aws_kms_key.main.arn]
          Condition = { StringEquals = { "kms:ViaService" = [
            "secretsmanager.${var.region}.amazonaws.com", "lambda.${var.region}.amazonaws.com",
          ] } }
        },
        # active tracing (tracing_config below) sends segments; X-Ray has no resources to name
        {
          Effect   = "Allow"
          Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          Resource = ["*"]
        },
      ],
      # a run that failed every attempt goes to the failures' queue, encrypted with the key
      [
        {
          Effect   = "Allow"
          Action   = ["sqs:SendMessage"]
          Resource = [aws_sqs_queue.job_failures[0].arn]
        },
        {
          Effect    = "Allow"
          Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource  = [aws_kms_key.main.arn]
          Condition = { StringEquals = { "kms:ViaService" = "sqs.${var.region}.amazonaws.com" } }
        },
      ],
      each.key == "report" ? [{
        Effect   = "Allow"
        Action   = ["ses:SendRawEmail"]
        Resource = [aws_sesv2_email_identity.sender.arn]
      }] : [],
    )
  })
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each          = local.lambda_jobs
  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "job" {
  #checkov:skip=CKV_AWS_116:failed asynchronous runs go to an on-failure destination (aws_lambda_function_event_invoke_config.job: an encrypted SQS queue, alarmed), which carries the error as well as the event, rather than to a dead-letter queue
  #checkov:skip=CKV_AWS_272:Lambda code signing applies to .zip packages only, not to container images; what runs is the image of an immutable ECR tag
  #checkov:skip=CKV_AWS_115:no reserved concurrency: an account's unreserved pool may not go below 10, so reserving fails on new accounts; one run at a time comes from the schedule (hourly, daily), compression's advisory lock and the report's once-per-period record
  for_each      = local.lambda_jobs
  function_name = "${local.name}-${each.key}"
  role          = aws_iam_role.lambda[each.key].arn
  package_type  = "Image"
  image_uri     = local.image
  timeout       = each.value.timeout
  memory_size   = 2048
  kms_key_arn   = aws_kms_key.main.arn

  image_config {
    entry_point       = ["/opt/deleton/bin/python", "-m", "awslambdaric"]
    command           = [each.value.handler]
    working_directory = "/tmp"
  }

  vpc_config {
    subnet_ids         = local.private_subnet_ids
    security_group_ids = [aws_security_group.workers.id]
  }

  tracing_config {
    mode = "Active"
  }

  environment {
    variables = merge(
      { for pair in local.environment : pair.name => pair.value },
      {
        DELETON_HOME        = "/tmp/deleton"
        MPLCONFIGDIR        = "/tmp/deleton/.matplotlib"
        DELETON_SECRET_ARNS = jsonencode(each.value.secrets)
      },
    )
  }

  # its log group encrypted before it logs; a migrated database before new code runs
  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy_attachment.lambda_vpc, terraform_data.migrate]
}

resource "aws_lambda_function_event_invoke_config" "job" {
  for_each                     = local.lambda_jobs
  function_name                = aws_lambda_function.job[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.job_failures[0].arn
    }
  }
}

# The runs that failed every attempt: the event and the error, kept 14 days to look into.
resource "aws_sqs_queue" "job_failures" {
  count                     = var.jobs_on_lambda ? 1 : 0
  name                      = "${local.name}-job-failures"
  kms_master_key_id         = aws_kms_key.main.arn
  message_retention_seconds = 14 * 24 * 3600
}

resource "aws_cloudwatch_metric_alarm" "job_failures" {
  count               = var.jobs_on_lambda ? 1 : 0
  alarm_name          = "${local.name}-job-failures"
  alarm_description   = "A scheduled job failed every attempt: its event and error are in ${aws_sqs_queue.job_failures[0].name}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.job_failures[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "job_errors" {
  for_each            = local.lambda_jobs
  alarm_name          = "${local.name}-${each.key}-errors"
  alarm_description   = "deleton ${each.key} failed on Lambda (it is retried twice; see its log group)"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.job[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

locals {
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}
