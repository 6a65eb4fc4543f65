"""`make bootstrap`: CDK's bootstrap with a least-privilege CloudFormation execution policy made here, instead
of AdministratorAccess, and a permissions boundary for every role the app's stacks create."""

import os

# jsii prints a banner about Node 20 on every start, before any import of aws_cdk; silenced as the Makefile does.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
