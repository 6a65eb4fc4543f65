#!/usr/bin/env bash
# Builds one service's image for linux/amd64 and pushes it to ECR at the commit SHA, once:
#
#     .circleci/aws-role.sh AWS_PUSH_ROLE_ARN .circleci/build-push.sh services/echo echo-fargate/echo
#
# Base images come through the registry stack's Docker Hub pull-through cache when it has one (its
# DockerHubCachePrefix output; docker_hub_secret_arn), else from Docker Hub with the context's DOCKERHUB_USERNAME
# and DOCKERHUB_TOKEN. Never anonymously: anonymous pulls are rate-limited per address, and a shared CI address
# runs out.
set -euo pipefail

directory=${1:?usage: build-push.sh DIRECTORY REPOSITORY}
repository=${2:?usage: build-push.sh DIRECTORY REPOSITORY}
: "${CIRCLE_SHA1:?}" "${AWS_REGION:?}"
account=$(aws sts get-caller-identity --query Account --output text)
registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
image="$registry/$repository:$CIRCLE_SHA1"

# The repositories' tags are immutable: a re-run of this commit would fail on push. Asked with batch-get-image,
# not describe-images: the push role holds pull/push rights on the two repositories, not ecr:DescribeImages.
pushed() {
  local count
  # An error (no repository, access denied) must stop the job, not read as "already there".
  count=$(aws ecr batch-get-image --repository-name "$repository" --image-ids imageTag="$CIRCLE_SHA1" \
    --query 'length(images)' --output text) || exit 1
  [ "$count" != 0 ]
}
if pushed; then
  echo "$image is already in ECR: nothing to build or push"
  exit 0
fi

aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$registry"
cache=$(aws cloudformation describe-stacks --stack-name echo-fargate-registry \
  --query "Stacks[0].Outputs[?OutputKey=='DockerHubCachePrefix'].OutputValue" --output text)
if [ -n "$cache" ] && [ "$cache" != "None" ]; then
  echo "base images through the registry's Docker Hub cache: $cache"
  base_registry=$cache
elif [ -n "${DOCKERHUB_USERNAME:-}" ] && [ -n "${DOCKERHUB_TOKEN:-}" ]; then
  echo "base images from Docker Hub as $DOCKERHUB_USERNAME"
  printf '%s' "$DOCKERHUB_TOKEN" | docker login --username "$DOCKERHUB_USERNAME" --password-stdin docker.io
  base_registry=docker.io
else
  echo "build-push.sh: no way to pull the base images but anonymously: give the registry stack" \
    "docker_hub_secret_arn (a pull-through cache), or the echo-fargate-aws context DOCKERHUB_USERNAME and" \
    "DOCKERHUB_TOKEN" >&2
  exit 1
fi

docker build --platform linux/amd64 --build-arg "BASE_REGISTRY=$base_registry" --tag "$image" "$directory"
# A concurrent re-run may win the race to the same tag; the tag existing is success either way.
docker push "$image" || pushed
