#!/usr/bin/env bash
# Runs one command with an IAM role's credentials, in that command's environment only:
#
#     .circleci/aws-role.sh AWS_DEPLOY_ROLE_ARN make deploy-service ENV=dev ...
#
# The first argument names the context variable that holds the role's ARN. The job's CircleCI OIDC token is
# exchanged for the role's credentials right before the command starts, so every AWS step starts with two fresh
# hours (the roles' maximum) whatever ran before it. Nothing is written to $BASH_ENV: every later bash of the job
# sources that file, make's recipes included, and would bring one step's credentials into another's.
set -euo pipefail

role_variable=${1:?usage: aws-role.sh ROLE_ARN_VARIABLE COMMAND [ARGUMENT...]}
shift
[ "$#" -gt 0 ] || { echo "aws-role.sh: no command to run" >&2; exit 2; }
role_arn=${!role_variable:-}
[ -n "$role_arn" ] || { echo "aws-role.sh: $role_variable is not set: add it to the job's CircleCI context" >&2; exit 2; }
[ -n "${AWS_REGION:-}" ] || { echo "aws-role.sh: AWS_REGION is not set: add it to the echo-fargate-aws context" >&2; exit 2; }
# CircleCI issues the token to every job of the project's own branches (to a forked PR's only when it passes
# secrets to forks). It expires an hour after the job started: an AWS step must start within that hour.
[ -n "${CIRCLE_OIDC_TOKEN_V2:-}" ] || { echo "aws-role.sh: no CIRCLE_OIDC_TOKEN_V2 in this job" >&2; exit 2; }
command -v aws >/dev/null || { echo "aws-role.sh: no AWS CLI on this machine image" >&2; exit 2; }

credentials=$(aws sts assume-role-with-web-identity \
  --role-arn "$role_arn" \
  --role-session-name "circleci-${CIRCLE_JOB:-job}-${CIRCLE_BUILD_NUM:-0}" \
  --web-identity-token "$CIRCLE_OIDC_TOKEN_V2" \
  --duration-seconds 7200 \
  --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' \
  --output text)
read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN <<< "$credentials"
# boto3 (make verify) reads AWS_DEFAULT_REGION, not AWS_REGION.
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_DEFAULT_REGION="$AWS_REGION"
exec "$@"
