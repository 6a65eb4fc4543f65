"""Synthesizes the app in this process, the same way `cdk synth` does, and reads back what it wrote."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# jsii starts `node` from PATH: the one package.json pins (npm ci puts it in node_modules/.bin), as under make.
# (One statement that only changes os.environ, so the imports below still count as at the top of the file.)
os.environ["PATH"] = os.pathsep.join([
    *(str(bin_dir) for bin_dir in [Path(__file__).resolve().parents[1] / "node_modules" / ".bin"]
      if (bin_dir / "node").exists()),
    os.environ.get("PATH", ""),
])
# As the CDK CLI does from the AWS configuration: a region, no account (so no lookups are needed).
os.environ.setdefault("CDK_DEFAULT_REGION", "us-east-1")

import aws_cdk as cdk
from aws_cdk.assertions import Template

import app as cdk_app

ROOT = Path(__file__).resolve().parents[1]
CDK_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
ENVIRONMENTS: list[str] = list(CDK_CONTEXT["environments"])
CERTIFICATE_ARN = "arn:aws:acm:us-east-1:111111111111:certificate/12345678-1234-1234-1234-123456789012"
IMAGE_TAG = "0a1b2c3d"
# What an environment cannot be synthesized without: prod refuses plain HTTP and the public images, so it
# gets HTTPS for a domain served elsewhere and this repository's images from ECR at a commit tag.
REQUIRED_INPUTS: dict[str, dict[str, str]] = {
    "prod": {"certificate_arn": CERTIFICATE_ARN, "domain_name": "echo.example.com", "image_tag": IMAGE_TAG},
}


@dataclass(frozen=True)
class Synthesized:
    env: str
    outdir: Path
    templates: dict[str, dict]  # stack name -> CloudFormation template

    def template(self, stack: str | None = None) -> Template:
        return Template.from_json(self.templates[stack or self.service_stack])

    @property
    def service_stack(self) -> str:
        return f"echo-fargate-{self.env}"

    def only(self, resource_type: str, stack: str | None = None) -> dict:
        """The properties of the one resource of this type in the stack (fails if there are more or none)."""
        (resource,) = self.template(stack).find_resources(resource_type).values()
        return resource.get("Properties", {})

    @property
    def service(self) -> dict:
        return self.only("AWS::ECS::Service")

    @property
    def task_definition(self) -> dict:
        return self.only("AWS::ECS::TaskDefinition")

    @property
    def containers(self) -> dict[str, dict]:
        return {c["Name"]: c for c in self.task_definition["ContainerDefinitions"]}

    def policy_of(self, role_prefix: str, stack: str | None = None) -> dict:
        """The inline policy attached to the role whose logical id starts with `role_prefix`."""
        (policy,) = [p["Properties"] for p in self.template(stack).find_resources("AWS::IAM::Policy").values()
                     if p["Properties"]["Roles"][0]["Ref"].startswith(role_prefix)]
        return policy

    @property
    def validation_report(self) -> dict:
        return json.loads((self.outdir / "validation-report.json").read_text())

    @property
    def manifest(self) -> dict:
        return json.loads((self.outdir / "manifest.json").read_text())


def synthesize(env: str, outdir: Path, **overrides: Any) -> Synthesized:
    """Runs app.py's `main` on a fresh App with cdk.json's context, `-c env=...`, the inputs the environment
    requires, and any `-c` overrides."""
    app = cdk.App(context={**CDK_CONTEXT, "env": env, **REQUIRED_INPUTS.get(env, {}), **overrides},
                  outdir=str(outdir))
    exit_code = cdk_app.main(app)
    assert exit_code == 0, f"synth of {env} failed with exit code {exit_code}"
    templates = {
        path.name.removesuffix(".template.json"): json.loads(path.read_text())
        for path in sorted(outdir.glob("*.template.json"))
    }
    return Synthesized(env=env, outdir=outdir, templates=templates)
