terraform {
  # 1.11: write-only attributes, which keep generated secrets out of the state (rds.tf)
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # State per environment in an encrypted, versioned bucket: deploy/deploy.sh passes
  #   -backend-config="bucket=STATE_BUCKET" -backend-config="key=deleton/ENVIRONMENT/terraform.tfstate"
  #   -backend-config="region=REGION" -backend-config="encrypt=true" -backend-config="use_lockfile=true"
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "deleton"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
