# The one image every service and job runs (see the Dockerfile); deploy/deploy.sh pushes it.

resource "aws_ecr_repository" "deleton" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE" # a tag names one build for ever: what runs is known

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "deleton" {
  repository = aws_ecr_repository.deleton.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "untagged layers go after a week"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      # Tagged images are the deployed commits (deploy/deploy.sh pushes one only to apply it
      # at once), so the running one is among the newest; the count is generous so that a
      # rollback target, or a task definition's image, is never expired by a run of pushes.
      # A rule counting "any" images would count untagged layers too, and could expire a
      # running image after a burst of builds.
      {
        rulePriority = 2
        description  = "the last 200 deployed commits stay, for rollbacks"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = ["*"]
          countType      = "imageCountMoreThan"
          countNumber    = 200
        }
        action = { type = "expire" }
      },
    ]
  })
}

locals {
  image = "${aws_ecr_repository.deleton.repository_url}:${var.image_tag}"
}
