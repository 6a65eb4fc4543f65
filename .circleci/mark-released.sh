#!/usr/bin/env bash
# Tags the image this commit deployed as a release, which the registry's lifecycle never expires:
#
#     .circleci/aws-role.sh AWS_DEPLOY_ROLE_ARN .circleci/mark-released.sh echo-fargate/echo
#
# The registry keeps the newest release-* images whatever else expires (stacks/registry.py): the running release
# and those a rollback goes back to. Tags are immutable, so add, never move.
set -euo pipefail

repository=${1:?usage: mark-released.sh REPOSITORY}
: "${CIRCLE_SHA1:?}"
release="release-$CIRCLE_SHA1"
tagged=$(aws ecr batch-get-image --repository-name "$repository" --image-ids imageTag="$release" \
  --query 'length(images)' --output text)
if [ "$tagged" != 0 ]; then
  echo "$repository:$release exists already"
  exit 0
fi
manifest=$(aws ecr batch-get-image --repository-name "$repository" --image-ids imageTag="$CIRCLE_SHA1" \
  --query 'images[0].imageManifest' --output text)
media_type=$(aws ecr batch-get-image --repository-name "$repository" --image-ids imageTag="$CIRCLE_SHA1" \
  --query 'images[0].imageManifestMediaType' --output text)
aws ecr put-image --repository-name "$repository" --image-tag "$release" --image-manifest "$manifest" \
  --image-manifest-media-type "$media_type" --query 'image.imageId' --output text
