"""cfn-lint over every synthesized template: zero errors. Ignored warnings live in .cfnlintrc.yaml, with reasons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.synth import ROOT


def _cfn_lint(*templates: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *map(str, templates)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_template_lints_clean(synthesized, built_images, ecr_images, with_ci, hardened):
    synths = [*synthesized.values(), built_images, ecr_images, with_ci, hardened]
    templates = [path for synth in synths for path in synth.outdir.glob("*.template.json")]
    assert len(templates) >= len(synthesized)
    result = _cfn_lint(*templates)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_does_catch_a_broken_template(tmp_path):
    broken = tmp_path / "broken.template.json"
    broken.write_text('{"Resources": {"Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup",'
                      ' "Properties": {"HealthCheckIntervalSeconds": 1, "Protocol": "HTTPX"}}}}')
    result = _cfn_lint(broken)
    assert result.returncode != 0
    assert ":E" in result.stdout
