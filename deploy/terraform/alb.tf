# The load balancer: HTTPS only (port 80 redirects), routed by host name.
#   api.<domain_name>  the API, authenticated by its keys alone
#   <domain_name>      the dashboard, signed in by the load balancer (authenticate-oidc with
#                      var.oidc, else authenticate-cognito with the user pool below), except
#                      the paths a bike screen or the browser needs without a person signed in
# The app authorises every request itself too (the signed x-amzn-oidc-data header starts its
# own session); the load balancer's sign-in only keeps strangers from reaching it at all.
# A WAF rate-limits each client address; access logs go to an encrypted bucket.

locals {
  dashboard_host = var.domain_name
  api_host       = "api.${var.domain_name}"
  # reached without the load balancer's sign-in: the health check, screen links, Dash's
  # assets, layout, component suites and callbacks (the app authorises those by its session)
  # and the favicon; with the host, five values to a rule, the load balancer's limit
  public_paths = [["/healthz", "/screen", "/screen/*", "/assets/*"], ["/_dash-*", "/_favicon.ico"]]
  cognito      = var.oidc == null
  # the claim of the identity header that carries deleton-staff / deleton-admin: a Cognito
  # user pool's user info has no groups, so its staff carry them in an attribute of their own
  role_claim = local.cognito ? "custom:groups" : var.oidc.role_claim
  # the WAF's label on a screen link's request (a rule label's own name: the WAF prefixes it)
  screen_link_label = "deleton:screen-link"
}

resource "aws_lb" "web" {
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = local.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  access_logs {
    bucket  = aws_s3_bucket.alb_logs.id
    prefix  = "alb"
    enabled = true
  }

  # the load balancer checks at once that it may write there
  depends_on = [aws_s3_bucket_policy.alb_logs]
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

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.web.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  # browsers come back over HTTPS only, for a year, on both hosts
  routing_http_response_strict_transport_security_header_value = "max-age=31536000; includeSubDomains"

  # a host that is neither the dashboard's nor the API's
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.web.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener_rule" "api" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web["api"].arn
  }

  condition {
    host_header {
      values = [local.api_host]
    }
  }
}

resource "aws_lb_listener_rule" "dashboard_public" {
  count        = length(local.public_paths)
  listener_arn = aws_lb_listener.https.arn
  priority     = 20 + count.index

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web["dashboard"].arn
  }

  condition {
    host_header {
      values = [local.dashboard_host]
    }
  }

  condition {
    path_pattern {
      values = local.public_paths[count.index]
    }
  }
}

resource "aws_lb_listener_rule" "dashboard" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 100

  dynamic "action" {
    for_each = local.cognito ? [1] : []
    content {
      type  = "authenticate-cognito"
      order = 1
      authenticate_cognito {
        user_pool_arn       = aws_cognito_user_pool.staff[0].arn
        user_pool_client_id = aws_cognito_user_pool_client.alb[0].id
        user_pool_domain    = aws_cognito_user_pool_domain.staff[0].domain
        # The load balancer signs into x-amzn-oidc-data the claims that userInfo answers, not
        # the ID token's. Cognito's userInfo gives every attribute the app client may read
        # (custom:groups among them) for the scope openid alone; for "openid email" it gives
        # sub, email and email_verified only, and nobody would get a role.
        scope           = "openid"
        session_timeout = var.sign_in_session_hours * 3600
      }
    }
  }

  dynamic "action" {
    for_each = local.cognito ? [] : [var.oidc]
    content {
      type  = "authenticate-oidc"
      order = 1
      authenticate_oidc {
        issuer                 = action.value.issuer
        authorization_endpoint = action.value.authorization_endpoint
        token_endpoint         = action.value.token_endpoint
        user_info_endpoint     = action.value.user_info_endpoint
        client_id              = action.value.client_id
        client_secret          = var.oidc_client_secret
        # the role claim (action.value.role_claim) must come back from its userinfo endpoint
        scope           = action.value.scope
        session_timeout = var.sign_in_session_hours * 3600
      }
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.web["dashboard"].arn
  }

  condition {
    host_header {
      values = [local.dashboard_host]
    }
  }

  lifecycle {
    precondition {
      condition     = local.cognito || var.oidc_client_secret != null
      error_message = "oidc_client_secret: required with oidc."
    }
  }
}

# --- sign-in without an identity provider of your own: a Cognito user pool --------------------
# Staff are added by an administrator only, with the role in their custom:groups attribute:
#   aws cognito-idp admin-create-user --user-pool-id POOL --username NAME \
#       --user-attributes Name=email,Value=ADDRESS Name=custom:groups,Value=deleton-staff

resource "aws_cognito_user_pool" "staff" {
  count                    = local.cognito ? 1 : 0
  name                     = local.name
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration        = "ON"
  auto_verified_attributes = ["email"]
  username_attributes      = ["email"]

  admin_create_user_config {
    allow_admin_create_user_only = true # nobody signs themselves up
  }

  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  schema {
    name                     = "groups"
    attribute_data_type      = "String"
    mutable                  = true
    developer_only_attribute = false
    string_attribute_constraints {
      min_length = 0
      max_length = 256
    }
  }
}

resource "aws_cognito_user_pool_domain" "staff" {
  count        = local.cognito ? 1 : 0
  domain       = "${local.name}-${local.account}"
  user_pool_id = aws_cognito_user_pool.staff[0].id
}

resource "aws_cognito_user_pool_client" "alb" {
  count                                = local.cognito ? 1 : 0
  name                                 = "${local.name}-alb"
  user_pool_id                         = aws_cognito_user_pool.staff[0].id
  generate_secret                      = true # the load balancer's authenticate-cognito needs one
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_scopes                 = ["openid"] # the load balancer's scope, no more
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = ["https://${local.dashboard_host}/oauth2/idpresponse"]
  # staff may read their groups but never write them: only an administrator grants a role
  read_attributes  = ["email", "email_verified", "custom:groups"]
  write_attributes = ["email"]
  # the load balancer keeps its own session (sign_in_session_hours); tokens need not outlive it
  access_token_validity  = 1
  id_token_validity      = 1
  refresh_token_validity = 1
  token_validity_units {
    access_token  = "hours"
    id_token      = "hours"
    refresh_token = "days"
  }
  prevent_user_existence_errors = "ENABLED"
}

# --- WAF: a rate limit per client address, known-bad inputs, anonymisers ---------------------

resource "aws_wafv2_web_acl" "web" {
  name  = local.name
  scope = "REGIONAL"

  default_action {
    allow {}
  }

  # Labels a request under /screen/ (links of the retired form, /screen/<token>, held a screen's
  # credential in the path: their tokens no longer work, but no log need keep them), so that the
  # WAF's log leaves it out (aws_wafv2_web_acl_logging_configuration below). Counts, blocks
  # nothing.
  rule {
    name     = "screen-links"
    priority = 0

    action {
      count {}
    }

    rule_label {
      name = local.screen_link_label
    }

    statement {
      byte_match_statement {
        search_string         = "/screen/"
        positional_constraint = "STARTS_WITH"
        field_to_match {
          uri_path {}
        }
        text_transformation {
          priority = 0
          type     = "NONE"
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-screen-links"
      sampled_requests_enabled   = false
    }
  }

  rule {
    name     = "rate-per-address"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit
        aggregate_key_type    = "IP"
        evaluation_window_sec = 300
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-rate"
      sampled_requests_enabled   = false
    }
  }

  # Log4Shell and other request shapes known to exploit servers (AWS's managed list)
  rule {
    name     = "known-bad-inputs"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-bad-inputs"
      sampled_requests_enabled   = false
    }
  }

  # Tor exits, anonymising proxies and VPN services, which no gym, office or data client needs;
  # the list of hosting providers' addresses only counts, since data clients may well call the
  # API from cloud servers.
  rule {
    name     = "anonymous-addresses"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"

        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name}-anonymous"
      sampled_requests_enabled   = false
    }
  }

  # No sampled requests anywhere: the log has every request but a screen link's, and a sample
  # (kept three hours, shown in the console) would show a screen link's path.
  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.name
    sampled_requests_enabled   = false
  }
}

resource "aws_wafv2_web_acl_association" "web" {
  resource_arn = aws_lb.web.arn
  web_acl_arn  = aws_wafv2_web_acl.web.arn
}

# WAF logs must go to a group whose name starts with aws-waf-logs-
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_wafv2_web_acl_logging_configuration" "web" {
  resource_arn            = aws_wafv2_web_acl.web.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  # a screen link's request is not logged at all: its path is the screen's credential, valid
  # until revoked (the WAF can redact a whole field, not part of a path, and the path of every
  # other request is worth keeping)
  logging_filter {
    default_behavior = "KEEP"

    filter {
      behavior    = "DROP"
      requirement = "MEETS_ANY"
      condition {
        label_name_condition {
          label_name = "awswaf:${local.account}:webacl:${local.name}:${local.screen_link_label}"
        }
      }
    }
  }

  # what signs a person in never reaches the logs
  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}

# --- access logs: who asked for what, kept alb_log_retention_days -----------------------------
# Encrypted with S3's own keys (SSE-S3): the load balancer's log delivery cannot use a KMS key.

resource "aws_s3_bucket" "alb_logs" {
  #checkov:skip=CKV_AWS_144:access logs are an audit trail of one region; a second copy elsewhere adds cost, not evidence
  #checkov:skip=CKV_AWS_18:this is the log bucket: logging its own access would log the log writes
  #checkov:skip=CKV2_AWS_62:nothing reacts to a new log object; they are read when needed
  #checkov:skip=CKV_AWS_145:the load balancer's log delivery supports only SSE-S3, not a KMS key
  bucket        = "${local.name}-alb-logs-${local.account}"
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_public_access_block" "alb_logs" {
  bucket                  = aws_s3_bucket.alb_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id

  rule {
    id     = "expire"
    status = "Enabled"
    filter {}

    expiration {
      days = var.alb_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_elb_service_account" "main" {}

resource "aws_s3_bucket_policy" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "LoadBalancerWrites"
        Effect    = "Allow"
        Principal = { AWS = data.aws_elb_service_account.main.arn }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.alb_logs.arn}/alb/AWSLogs/${local.account}/*"
      },
      {
        Sid       = "TlsOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.alb_logs.arn, "${aws_s3_bucket.alb_logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.alb_logs]
}
