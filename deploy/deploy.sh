#!/usr/bin/env bash
# Deploy one environment: plan, refuse anything that would destroy data, build and push the
# image once per commit, then apply. The apply itself migrates the database before the
# services, jobs and functions roll (terraform_data.migrate runs deploy/migrate.sh).
#
#   deploy/deploy.sh ENVIRONMENT [TAG]      # TAG defaults to the current commit
#
# Needs docker, terraform 1.11+, the aws CLI and credentials for the account, and
# deploy/terraform/ENVIRONMENT.tfvars (copied from example.tfvars; git ignores it), which names
# the region and the state's bucket. Works from a fresh checkout, and again at the same commit,
# when it changes nothing. Never runs terraform destroy.
#
# Optional environment:
#   DELETON_BACKEND_CONFIG  a file of extra -backend-config settings (an S3-compatible endpoint)
#   DELETON_RDS_CA_BUNDLE   a PEM file to use as the RDS CA bundle instead of downloading it
set -euo pipefail

environment="${1:?usage: deploy/deploy.sh ENVIRONMENT [TAG]}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
tfvars="$here/terraform/$environment.tfvars"
tf=(terraform -chdir="$here/terraform")

if [ ! -f "$tfvars" ]; then
    echo "no $tfvars: copy deploy/terraform/example.tfvars and fill it in" >&2
    exit 1
fi
# git ignores the tfvars, Terraform's files and plans; anything else uncommitted would make the
# tag name a build that no commit describes
if [ -n "$(git -C "$root" status --porcelain)" ]; then
    echo "refusing to deploy uncommitted changes: a tag must name one build" >&2
    git -C "$root" status --short >&2
    exit 1
fi
tag="${2:-$(git -C "$root" rev-parse --short=12 HEAD)}"

# a value of the tfvars file (a backend cannot read variables, and the aws CLI needs the region)
tfvar() {
    sed -n -E "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\\1/p" "$tfvars" | tail -n 1
}
region="$(tfvar region)"
region="${region:-eu-west-2}"
bucket="$(tfvar state_bucket)"
if [ -z "$bucket" ]; then
    echo "$tfvars names no state_bucket: the S3 bucket that keeps the Terraform state" >&2
    exit 1
fi

# plans hold the configuration and the prior state: kept outside the checkout, then deleted
work="$(umask 077 && mktemp -d)"
trap 'rm -rf "$work"' EXIT

backend=(-backend-config="bucket=$bucket" -backend-config="key=deleton/$environment/terraform.tfstate"
    -backend-config="region=$region" -backend-config="encrypt=true" -backend-config="use_lockfile=true")
if [ -n "${DELETON_BACKEND_CONFIG:-}" ]; then
    backend+=(-backend-config="$DELETON_BACKEND_CONFIG")
fi
vars=(-var-file="$tfvars" -var="environment=$environment" -var="image_tag=$tag")

# -reconfigure: one checkout may deploy several environments, each with its own state
lock="$here/terraform/.terraform.lock.hcl"
if ! "${tf[@]}" init -input=false -reconfigure "${backend[@]}" 2> "$work/init.err"; then
    cat "$work/init.err" >&2
    if grep -qi 'checksum' "$work/init.err"; then
        echo "the provider's checksums in deploy/terraform/.terraform.lock.hcl do not cover this" \
            "platform's package: where the registry is reachable, run once and commit the lock file:" >&2
        echo "  terraform -chdir=deploy/terraform providers lock -platform=linux_amd64" \
            "-platform=darwin_arm64 -platform=darwin_amd64 -platform=windows_amd64" >&2
    fi
    exit 1
fi
cat "$work/init.err" >&2
# init records this platform's own checksum of the provider if the lock file lacked it (it was
# verified against the registry's, which the lock file holds for every platform)
if [ -n "$(git -C "$root" status --porcelain -- "$lock")" ]; then
    echo "terraform init added this platform's provider checksum to $lock: commit it, or the" \
        "next deploy refuses to run from an uncommitted checkout" >&2
fi

# Plan, then refuse a plan that destroys or replaces what holds data; only then apply it.
# Task definitions are replaced by every release; the database, keys, secrets, the image
# repository, the buckets, the user pool, the log groups (the audit trail), the failed jobs'
# queue and the network never are. These types exactly: a secret's version is replaced by
# every rotation (secret_generation), and a bucket's policy holds no data.
stateful='aws_db_instance|aws_kms_key|aws_secretsmanager_secret|aws_ecr_repository|aws_s3_bucket|aws_cognito_user_pool|aws_cloudwatch_log_group|aws_sqs_queue|aws_vpc'
plan() { # plan FILE [-target=...]
    local file="$1"
    shift
    "${tf[@]}" plan -input=false -no-color "${vars[@]}" -out="$file" "$@" > "$file.txt"
    grep -E '^(  # |Plan:|No changes)' "$file.txt" || true
    if "${tf[@]}" show -no-color "$file" |
        grep -E "# ($stateful)\.[^ ]* (will be destroyed|must be replaced|will be replaced)"; then
        echo "the plan destroys data: refusing. Review it with terraform plan." >&2
        exit 1
    fi
}
plan "$work/all.plan"

# The image, once per tag: a tag names one build for ever (the repository's tags are immutable)
if ! "${tf[@]}" state list aws_ecr_repository.deleton | grep -q .; then
    # a first deploy: the repository alone, so that the image has somewhere to go
    plan "$work/repository.plan" -target=aws_ecr_repository.deleton -target=aws_ecr_lifecycle_policy.deleton
    "${tf[@]}" apply -input=false "$work/repository.plan"
fi
repository="$("${tf[@]}" output -raw ecr_repository_url 2>/dev/null || true)"
if [ -z "$repository" ]; then # before the first full apply there are no outputs yet
    repository="$(aws ecr describe-repositories --region "$region" --repository-names "deleton-$environment" \
        --query 'repositories[0].repositoryUri' --output text)"
fi
if aws ecr describe-images --region "$region" --repository-name "${repository#*/}" \
    --image-ids imageTag="$tag" > /dev/null 2>&1; then
    echo "image $repository:$tag is already pushed"
else
    # the RDS CA bundle, with which the services verify the database's certificate
    mkdir -p "$root/deploy/ca"
    if [ -n "${DELETON_RDS_CA_BUNDLE:-}" ]; then
        cp "$DELETON_RDS_CA_BUNDLE" "$root/deploy/ca/rds-ca-bundle.pem"
    else
        curl -fsS --proto '=https' -o "$root/deploy/ca/rds-ca-bundle.pem" \
            "https://truststore.pki.rds.amazonaws.com/$region/$region-bundle.pem"
    fi
    grep -q 'BEGIN CERTIFICATE' "$root/deploy/ca/rds-ca-bundle.pem"

    aws ecr get-login-password --region "$region" |
        docker login --username AWS --password-stdin "${repository%%/*}"
    # amd64 whatever builds it (Fargate and Lambda run X86_64); buildx would otherwise push an
    # index with an attestation, which Lambda refuses
    build=(docker build --platform linux/amd64)
    if docker build --help 2>/dev/null | grep -q -- '--provenance'; then
        build+=(--provenance=false)
    fi
    "${build[@]}" -t "$repository:$tag" "$root"
    docker push "$repository:$tag"
fi

if [ -f "$work/repository.plan" ]; then
    plan "$work/all.plan" # the repository's apply made the first plan stale
fi
"${tf[@]}" apply -input=false "$work/all.plan"

cluster="$("${tf[@]}" output -raw cluster)"
aws ecs wait services-stable --region "$region" --cluster "$cluster" --services ingest dashboard api
echo "deployed $tag to $environment: $("${tf[@]}" output -raw url) (API: $("${tf[@]}" output -raw api_url))"
