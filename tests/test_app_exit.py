"""app.py ends the process as soon as the cloud assembly is written (docs/testing.md, the synth's exit), without
losing what jsii's Node printed at the very end of the synth: CDK's template-validation report is written to
stderr last, and an empty stack always draws one."""

from __future__ import annotations

import subprocess
import sys

from tests.synth import ROOT

SCRIPT = """
import sys
import aws_cdk as cdk
import app
synthesizer = cdk.App(outdir=sys.argv[1])
cdk.Stack(synthesizer, "Empty")  # an empty stack: a validation warning, printed at the end of synth()
synthesizer.synth()
app._end(0)
"""


def test_output_printed_at_the_end_of_the_synth_is_not_lost(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Template validation found issues" in result.stderr
    assert (tmp_path / "Empty.template.json").exists() and (tmp_path / "manifest.json").exists()
