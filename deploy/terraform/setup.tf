# The network, its security groups, and the key that encrypts everything at rest.
#
# With vpc_id unset, a VPC with a public and a private subnet in each of two zones: the load
# balancer in the public ones; the services and the database in the private ones, which reach
# out (Kafka, ECR, SES) through NAT and cannot be reached from outside.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The trust policy of a role that one AWS service assumes, one per service, and only on this
# account's behalf (and, where the service says for what, for this deployment's resources):
# another account cannot have the service use these roles for it. The ECS tasks' and the
# scheduler's are beside their roles.
data "aws_iam_policy_document" "assume" {
  for_each = {
    "vpc-flow-logs"  = "arn:${data.aws_partition.current.partition}:ec2:${var.region}:${local.account}:vpc-flow-log/*"
    "monitoring.rds" = "arn:${data.aws_partition.current.partition}:rds:${var.region}:${local.account}:db:${local.name}"
    "lambda"         = null # Lambda names no function when it assumes an execution role
  }

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    dynamic "condition" {
      for_each = each.value == null ? [] : [each.value]
      content {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = [condition.value]
      }
    }
  }
}

locals {
  name      = "deleton-${var.environment}"
  create    = var.vpc_id == null
  zones     = coalesce(var.availability_zones, ["${var.region}a", "${var.region}b"])
  nat_count = local.create ? (var.nat_gateway_per_zone ? 2 : 1) : 0

  vpc_id             = local.create ? aws_vpc.main[0].id : var.vpc_id
  public_subnet_ids  = local.create ? aws_subnet.public[*].id : var.public_subnet_ids
  private_subnet_ids = local.create ? aws_subnet.private[*].id : var.private_subnet_ids
  mail_domain        = split("@", var.mail_from)[1]
  account            = data.aws_caller_identity.current.account_id
}

resource "aws_vpc" "main" {
  count                = local.create ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = local.name }
}

# Nothing may use the default security group.
resource "aws_default_security_group" "main" {
  count  = local.create ? 1 : 0
  vpc_id = aws_vpc.main[0].id
}

resource "aws_subnet" "public" {
  count             = local.create ? 2 : 0
  vpc_id            = aws_vpc.main[0].id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)
  tags              = { Name = "${local.name}-public-${local.zones[count.index]}" }
}

resource "aws_subnet" "private" {
  count             = local.create ? 2 : 0
  vpc_id            = aws_vpc.main[0].id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index + 8)
  tags              = { Name = "${local.name}-private-${local.zones[count.index]}" }
}

resource "aws_internet_gateway" "main" {
  count  = local.create ? 1 : 0
  vpc_id = aws_vpc.main[0].id
  tags   = { Name = local.name }
}

resource "aws_eip" "nat" {
  count  = local.nat_count
  domain = "vpc"
  tags   = { Name = "${local.name}-nat-${count.index}" }
}

resource "aws_nat_gateway" "main" {
  count         = local.nat_count
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = { Name = "${local.name}-${count.index}" }
  depends_on    = [aws_internet_gateway.main]
}

resource "aws_route_table" "public" {
  count  = local.create ? 1 : 0
  vpc_id = aws_vpc.main[0].id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main[0].id
  }

  tags = { Name = "${local.name}-public" }
}

resource "aws_route_table_association" "public" {
  count          = local.create ? 2 : 0
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_route_table" "private" {
  count  = local.create ? 2 : 0
  vpc_id = aws_vpc.main[0].id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main[min(count.index, local.nat_count - 1)].id
  }

  tags = { Name = "${local.name}-private-${count.index}" }
}

resource "aws_route_table_association" "private" {
  count          = local.create ? 2 : 0
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

resource "aws_flow_log" "main" {
  count           = local.create ? 1 : 0
  vpc_id          = aws_vpc.main[0].id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow[0].arn
  iam_role_arn    = aws_iam_role.flow[0].arn
}

resource "aws_cloudwatch_log_group" "flow" {
  count             = local.create ? 1 : 0
  name              = "/deleton/${var.environment}/vpc-flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_iam_role" "flow" {
  count              = local.create ? 1 : 0
  name               = "${local.name}-vpc-flow"
  assume_role_policy = data.aws_iam_policy_document.assume["vpc-flow-logs"].json
}

resource "aws_iam_role_policy" "flow" {
  count = local.create ? 1 : 0
  role  = aws_iam_role.flow[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow[0].arn}:*"
    }]
  })
}

# --- security groups: only the services reach the database; only the load balancer reaches
# the dashboard and the API --------------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "Load balancer: HTTPS (and HTTP, redirected) from allowed_cidrs"
  vpc_id      = local.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:port 80 only answers with a redirect to HTTPS (alb.tf), so a typed http:// address still arrives
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from ${each.value}: redirected to HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_web" {
  for_each                     = toset(["8050", "8000"])
  security_group_id            = aws_security_group.alb.id
  description                  = "to the dashboard and API tasks"
  referenced_security_group_id = aws_security_group.web.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

# authenticate-cognito and authenticate-oidc make the load balancer itself call the identity
# provider's token and userinfo endpoints over HTTPS; without a way out every sign-in ends in
# its HTTP 500. The provider's addresses are not ours to know (Cognito's and most providers'
# are AWS's or a CDN's, and change), so HTTPS to anywhere, as for the tasks below.
resource "aws_vpc_security_group_egress_rule" "alb_to_idp" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS to the identity provider (token and userinfo endpoints)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "web" {
  name        = "${local.name}-web"
  description = "Dashboard and API tasks: reached by the load balancer only"
  vpc_id      = local.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "web_from_alb" {
  for_each                     = toset(["8050", "8000"])
  security_group_id            = aws_security_group.web.id
  description                  = "from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

resource "aws_security_group" "workers" {
  name        = "${local.name}-workers"
  description = "Ingest, compression and report tasks: nothing reaches them"
  vpc_id      = local.vpc_id
}

# Services reach out over HTTPS (ECR, Secrets Manager, SES, CloudWatch), to the database, and
# the workers to Kafka; nothing else.
resource "aws_vpc_security_group_egress_rule" "out_https" {
  for_each          = { web = aws_security_group.web.id, workers = aws_security_group.workers.id }
  security_group_id = each.value
  description       = "HTTPS to AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# Kafka from the workers alone (ingest): the dashboard and the API never reach a broker
resource "aws_vpc_security_group_egress_rule" "out_kafka" {
  security_group_id = aws_security_group.workers.id
  description       = "Kafka brokers (Confluent Cloud and MSK listen on 9092-9098)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 9092
  to_port           = 9098
}

moved {
  from = aws_vpc_security_group_egress_rule.out_kafka["workers"]
  to   = aws_vpc_security_group_egress_rule.out_kafka
}

resource "aws_vpc_security_group_egress_rule" "out_db" {
  for_each                     = { web = aws_security_group.web.id, workers = aws_security_group.workers.id }
  security_group_id            = each.value
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "db" {
  name        = "${local.name}-db"
  description = "PostgreSQL: reached by the services only"
  vpc_id      = local.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_services" {
  for_each                     = { web = aws_security_group.web.id, workers = aws_security_group.workers.id }
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the ${each.key} tasks"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# --- one customer-managed key for logs, secrets, the database and images --------------------

resource "aws_kms_key" "main" {
  description             = "${local.name}: logs, secrets, database, images"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        # every log group of this deployment: the services', the Lambda functions', the
        # database's and the WAF's (log_groups below)
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [for group in local.log_groups : "arn:${data.aws_partition.current.partition}:logs:${var.region}:${local.account}:log-group:${group}"]
          }
        }
      },
    ]
  })
}

locals {
  # the names of this deployment's log groups, as patterns; each is encrypted with the key
  log_groups = [
    "/deleton/${var.environment}/*",
    "/aws/lambda/${local.name}-*",
    "/aws/rds/instance/${local.name}/*",
    "aws-waf-logs-${local.name}",
  ]
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

# --- SES: the sender's domain, for alerts and reports ----------------------------------------

resource "aws_sesv2_email_identity" "sender" {
  email_identity = local.mail_domain
}
