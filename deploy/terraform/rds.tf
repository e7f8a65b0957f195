# PostgreSQL on RDS: private, encrypted, backed up, protected from deletion.
#
# Four logins, each a secret of its own holding a whole DELETON_*_DATABASE_URL:
#   admin   the master user: `deleton db init` only (schemas, roles, the logins below)
#   writer  ingestion and compression (deleton_writer, owner of the schemas)
#   reader  dashboard and report (deleton_reader: no email, address or birth date)
#   api     the REST API (deleton_api: the reader, plus deletes and the keyed functions)
# Passwords are generated here, never typed; they live in Secrets Manager and in the state,
# which the S3 backend keeps encrypted.

resource "aws_db_subnet_group" "main" {
  name       = local.name
  subnet_ids = local.private_subnet_ids
}

resource "aws_db_parameter_group" "main" {
  name   = local.name
  family = "postgres${var.db_engine_version}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000" # statements slower than a second are logged
  }
}

resource "random_password" "db" {
  for_each = toset(["admin", "writer", "reader", "api"])
  length   = 40
  special  = false # kept in URLs: letters and digits need no escaping
}

resource "aws_db_instance" "main" {
  identifier     = local.name
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = "deleton"
  username       = "deleton_admin"
  password       = random_password.db["admin"].result
  port           = 5432

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  parameter_group_name   = aws_db_parameter_group.main.name

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.name}-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.main.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${local.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.assume["monitoring.rds"].json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

locals {
  db_users = {
    admin  = "deleton_admin"
    writer = "deleton_writer_login"
    reader = "deleton_reader_login"
    api    = "deleton_api_login"
  }
}

resource "aws_secretsmanager_secret" "db_url" {
  #checkov:skip=CKV2_AWS_57:rotation would need a rotation Lambda per login; passwords are 40 random characters, rotated by re-applying with -replace
  for_each                = local.db_users
  name                    = "${local.name}/database-url/${each.key}"
  description             = "DELETON_*DATABASE_URL of the ${each.key} login"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "db_url" {
  for_each      = local.db_users
  secret_id     = aws_secretsmanager_secret.db_url[each.key].id
  secret_string = "postgresql://${each.value}:${random_password.db[each.key].result}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/deleton?sslmode=require"
}

# `deleton db init` makes the three service logins with these passwords
resource "aws_secretsmanager_secret" "db_password" {
  #checkov:skip=CKV2_AWS_57:as above
  for_each                = toset(["writer", "reader", "api"])
  name                    = "${local.name}/database-password/${each.key}"
  description             = "DELETON_DB_${upper(each.key)}_PASSWORD, for deleton db init"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "db_password" {
  for_each      = aws_secretsmanager_secret.db_password
  secret_id     = each.value.id
  secret_string = random_password.db[each.key].result
}

resource "random_password" "api_key" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "api_key" {
  #checkov:skip=CKV2_AWS_57:rotated by re-applying with -replace; callers then need the new key
  name                    = "${local.name}/api-key"
  description             = "DELETON_API_KEY: deletes and riders' personal data through the API"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "api_key" {
  secret_id     = aws_secretsmanager_secret.api_key.id
  secret_string = random_password.api_key.result
}
