#!/usr/bin/env bash
# `deleton db init` as a one-off ECS task; run by Terraform (terraform_data.migrate in ecs.tf)
# before the services and jobs roll. Fails unless the task stopped with exit code 0.
# Environment: REGION CLUSTER TASK_DEFINITION SUBNETS SECURITY_GROUP LOG_GROUP
set -euo pipefail

task="$(aws ecs run-task --region "$REGION" --cluster "$CLUSTER" --launch-type FARGATE \
    --task-definition "$TASK_DEFINITION" --started-by deleton-migrate \
    --network-configuration "awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$SECURITY_GROUP],assignPublicIp=DISABLED}" \
    --query 'tasks[0].taskArn' --output text)"
if [ -z "$task" ] || [ "$task" = "None" ]; then
    echo "the migration task did not start: see aws ecs run-task's failures" >&2
    exit 1
fi
echo "migrating: $task"
aws ecs wait tasks-stopped --region "$REGION" --cluster "$CLUSTER" --tasks "$task"
code="$(aws ecs describe-tasks --region "$REGION" --cluster "$CLUSTER" --tasks "$task" \
    --query 'tasks[0].containers[0].exitCode' --output text)"
if [ "$code" != "0" ]; then
    echo "deleton db init failed (exit $code): see $LOG_GROUP in CloudWatch" >&2
    exit 1
fi
echo "migrated"
