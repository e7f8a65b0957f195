# Copy to <environment>.tfvars and fill in; deploy/deploy.sh reads it.
region                         = "eu-west-2"
kafka_bootstrap_servers        = "pkc-xxxxx.eu-west-2.aws.confluent.cloud:9092"
kafka_sasl_username            = "CONFLUENT_API_KEY"
kafka_sasl_password_secret_arn = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:deleton/kafka-AbCdEf"
mail_from                      = "alerts@deleton.example"
report_recipients              = ["ceo@deleton.example", "cfo@deleton.example"]
certificate_arn                = "arn:aws:acm:eu-west-2:123456789012:certificate/00000000-0000-0000-0000-000000000000"
