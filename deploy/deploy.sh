#!/usr/bin/env bash
# Build the image, push it, apply the Terraform, migrate the database, then roll the services.
# Never destroys data: a plan that would destroy or replace the database, its key, a secret,
# the image repository or the network stops here (and the database's deletion protection
# would refuse anyway).
#
#   deploy/deploy.sh ENVIRONMENT [TAG]      # TAG defaults to the current commit
#
# Needs docker, terraform and the aws CLI, credentials for the account, and
# deploy/terraform/ENVIRONMENT.tfvars (kafka_bootstrap_servers, mail_from, ...).
set -euo pipefail

environment="${1:?usage: deploy/deploy.sh ENVIRONMENT [TAG]}"
tag="${2:-$(git rev-parse --short=12 HEAD)}"
here="$(cd "$(dirname "$0")" && pwd)"
tf=(terraform -chdir="$here/terraform")
vars=(-var-file="$environment.tfvars" -var="environment=$environment" -var="image_tag=$tag")

if [ -n "$(git status --porcelain)" ]; then
    echo "refusing to deploy uncommitted changes: a tag must name one build" >&2
    exit 1
fi

"${tf[@]}" init -input=false
# the repository first, so the image has somewhere to go
"${tf[@]}" apply -input=false "${vars[@]}" -target=aws_ecr_repository.deleton
repository="$("${tf[@]}" output -raw ecr_repository_url)"
region="$(aws configure get region || echo eu-west-2)"

aws ecr get-login-password --region "$region" |
    docker login --username AWS --password-stdin "${repository%%/*}"
docker build --pull -t "$repository:$tag" "$here/.."
docker push "$repository:$tag"

# migrations (and the services' logins) before any new code runs against them: the migration's
# task definition, with what it needs (network, database, secrets), goes first
"${tf[@]}" apply -input=false "${vars[@]}" -target='aws_ecs_task_definition.service["migrate"]'
cluster="$("${tf[@]}" output -raw cluster)"
subnets="$("${tf[@]}" output -json private_subnet_ids | tr -d '[]"')"
group="$("${tf[@]}" output -raw workers_security_group_id)"
task="$(aws ecs run-task --cluster "$cluster" --launch-type FARGATE \
    --task-definition "$("${tf[@]}" output -raw migrate_task_definition)" \
    --network-configuration "awsvpcConfiguration={subnets=[$subnets],securityGroups=[$group],assignPublicIp=DISABLED}" \
    --query 'tasks[0].taskArn' --output text)"
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"
code="$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
    --query 'tasks[0].containers[0].exitCode' --output text)"
if [ "$code" != "0" ]; then
    echo "deleton db init failed (exit $code): see /deleton/$environment/migrate in CloudWatch" >&2
    exit 1
fi

# then everything: the services roll to the new image, ingest members one by one
"${tf[@]}" plan -input=false "${vars[@]}" -out=deleton.plan
# task definitions are replaced by every release; data never is
stateful='aws_db_instance|aws_kms_key|aws_secretsmanager_secret|aws_ecr_repository|aws_vpc\.'
if "${tf[@]}" show -no-color deleton.plan |
    grep -E "# ($stateful)[^ ]* (will be destroyed|must be replaced)"; then
    echo "the plan destroys data; review it with: terraform show deleton.plan" >&2
    exit 1
fi
"${tf[@]}" apply -input=false deleton.plan
aws ecs wait services-stable --cluster "$cluster" --services ingest dashboard api
echo "deployed $tag to $environment: $("${tf[@]}" output -raw url)"
