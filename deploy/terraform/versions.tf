terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds generated passwords: keep it in an encrypted, versioned bucket.
  #   terraform init -backend-config="bucket=..." -backend-config="key=deleton/terraform.tfstate" \
  #                  -backend-config="region=eu-west-2" -backend-config="encrypt=true"
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
