"""`make bootstrap`: CDK's bootstrap with a least-privilege CloudFormation execution policy made here, instead
of AdministratorAccess, and a permissions boundary for every role the app's stacks create."""

import os
from pathlib import Path

# Before any import of aws_cdk (which starts jsii).
# jsii starts `node` from PATH: the one package.json pins (npm ci puts it in node_modules/.bin), as under make.
_PINNED_NODE_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin"
if (_PINNED_NODE_BIN / "node").exists():
    os.environ["PATH"] = os.pathsep.join([str(_PINNED_NODE_BIN), os.environ.get("PATH", "")])

# The policy stack's name, here rather than in bootstrap/app.py: `python -m bootstrap --assembly` needs it
# without importing aws_cdk, which would start jsii for nothing.
STACK = "echo-fargate-bootstrap-policies"
