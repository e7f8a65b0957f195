# Copy to <environment>.tfvars (git ignores it) and fill in; deploy/deploy.sh reads it.
region                         = "eu-west-2"
state_bucket                   = "deleton-terraform-state-123456789012"
domain_name                    = "deleton.example.com"
certificate_arn                = "arn:aws:acm:eu-west-2:123456789012:certificate/00000000-0000-0000-0000-000000000000"
allowed_cidrs                  = ["203.0.113.0/24"]
kafka_bootstrap_servers        = "pkc-xxxxx.eu-west-2.aws.confluent.cloud:9092"
kafka_sasl_username            = "CONFLUENT_API_KEY"
kafka_sasl_password_secret_arn = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:deleton/kafka-AbCdEf"
mail_from                      = "alerts@deleton.example.com"
report_recipients              = ["ceo@deleton.example.com", "cfo@deleton.example.com"]
# With your own identity provider instead of a Cognito user pool (its client secret in
# TF_VAR_oidc_client_secret, never in this file):
# oidc = {
#   issuer                 = "https://idp.example.com"
#   authorization_endpoint = "https://idp.example.com/oauth2/authorize"
#   token_endpoint         = "https://idp.example.com/oauth2/token"
#   user_info_endpoint     = "https://idp.example.com/oauth2/userinfo"
#   client_id              = "deleton"
# }
