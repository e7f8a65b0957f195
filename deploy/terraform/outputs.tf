output "url" {
  description = "The dashboard."
  value       = "https://${var.domain_name}/"
}

output "api_url" {
  description = "The API; its interactive docs are at /docs."
  value       = "https://api.${var.domain_name}/"
}

output "load_balancer_dns_name" {
  description = "Point domain_name and api.<domain_name> here (Route 53 alias records, or CNAMEs)."
  value       = aws_lb.web.dns_name
}

output "load_balancer_zone_id" {
  description = "The hosted zone of load_balancer_dns_name, for Route 53 alias records."
  value       = aws_lb.web.zone_id
}

output "cognito_user_pool_id" {
  description = "Where staff are added when the load balancer signs in with Cognito (no oidc); null otherwise."
  value       = local.cognito ? aws_cognito_user_pool.staff[0].id : null
}

output "ecr_repository_url" {
  description = "Where deploy/deploy.sh pushes the image."
  value       = aws_ecr_repository.deleton.repository_url
}

output "cluster" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "migrate_task_definition" {
  description = "`deleton db init`, run by deploy/deploy.sh before the services roll."
  value       = aws_ecs_task_definition.service["migrate"].arn
}

output "admin_task_definition" {
  description = "The admin task (no logs): run it with --enable-execute-command and make accounts, screen links and API keys through aws ecs execute-command (README: Deploy)."
  value       = aws_ecs_task_definition.admin.family
}

output "private_subnet_ids" {
  description = "Where one-off tasks (the migration) run."
  value       = local.private_subnet_ids
}

output "workers_security_group_id" {
  description = "The security group of one-off tasks."
  value       = aws_security_group.workers.id
}

output "database_endpoint" {
  description = "PostgreSQL's private address."
  value       = aws_db_instance.main.address
}

output "api_key_secret_arn" {
  description = "The secret holding DELETON_API_KEY, the API's bootstrap key with every scope."
  value       = aws_secretsmanager_secret.app["api-key"].arn
}

output "ses_dkim_tokens" {
  description = "Publish each as a CNAME <token>._domainkey.<domain> -> <token>.dkim.amazonses.com, so SES may send as the sender's domain."
  value       = aws_sesv2_email_identity.sender.dkim_signing_attributes[0].tokens
}
