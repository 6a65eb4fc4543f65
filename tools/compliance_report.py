"""`make compliance`: the page an auditor reads. For each environment, every rule pack the synth runs
(stacks/compliance.py), its findings, and every acknowledgement with the construct it is on and its reason.

Each environment is synthesized as `cdk synth` would (app.py on cdk.json's context, in this process); an
environment that needs inputs to synthesize (prod: a domain, its certificate and an image tag) gets the example
ones the tests use, named in the output, unless given with -c. Exits 1 when any pack has a finding.

    .venv/bin/python -m tools.compliance_report                    # dev and prod, to stdout
    .venv/bin/python -m tools.compliance_report --env prod -c domain_name=echo.acme.com ...
    .venv/bin/python -m tools.compliance_report --write            # refresh docs/compliance.md's report
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

# First: tests.synth puts the pinned Node on PATH before aws_cdk (imported by stacks) starts jsii on it.
from tests.synth import ENVIRONMENTS, REQUIRED_INPUTS, Synthesized, synthesize

# isort: split
from stacks.compliance import AWS_SOLUTIONS, PACKS

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "compliance.md"
BEGIN, END = "<!-- compliance report: begin (make compliance-docs) -->", "<!-- compliance report: end -->"


def _rule(report_name: str, rule_name: str) -> str:
    """'NIST.800.53.R5-CloudWatchLogGroupEncrypted' -> 'CloudWatchLogGroupEncrypted'; AwsSolutions keeps its id."""
    return rule_name if report_name == AWS_SOLUTIONS else rule_name.removeprefix(f"{report_name}-")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(env: str, synth_report: dict, stacks: list[str], inputs: dict[str, str]) -> str:
    reports = {report["pluginName"]: report for report in synth_report["pluginReports"]}
    lines = [f"### {env}", ""]
    given = ", ".join(f"`{name}={value}`" for name, value in sorted(inputs.items()))
    lines.append(f"Stacks {', '.join(f'`{s}`' for s in stacks)}; cdk.json's `{env}` settings"
                 + (f", with the example inputs {given}." if given else "."))
    lines += ["", "| rule pack | findings | acknowledged |", "| --- | ---: | ---: |"]
    for pack in PACKS:
        report = reports.get(pack, {"violations": [], "suppressedViolations": []})
        count = sum(len(v["violatingConstructs"]) for v in report["violations"])
        acknowledged = sum(len(v["violatingConstructs"]) for v in report["suppressedViolations"])
        lines.append(f"| {pack}{'' if pack in reports else ' (did not run)'} | {count} | {acknowledged} |")

    findings = [(pack, v, c["constructPath"]) for pack, report in reports.items() for v in report["violations"]
                for c in v["violatingConstructs"]]
    if findings:
        lines += ["", "Findings (the synth fails until each is fixed or acknowledged):", "",
                  "| pack | rule | resource | what it asks |", "| --- | --- | --- | --- |"]
        lines += [f"| {pack} | {_rule(pack, v['ruleName'])} | `{path}` | {_cell(v['description'])} |"
                  for pack, v, path in sorted(findings, key=lambda f: (f[0], f[1]["ruleName"], f[2]))]

    # One row per rule and reason: the regulatory packs share most rules, and one acknowledgement covers them.
    grouped: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: {"packs": set(), "where": set()})
    for pack, report in reports.items():
        for violation in report["suppressedViolations"]:
            row = grouped[(_rule(pack, violation["ruleName"]), violation["reason"])]
            row["packs"].add(pack)
            row["where"].add(violation["acknowledgedAt"])
    lines += ["", "Acknowledgements:", "", "| rule | packs | on | why |", "| --- | --- | --- | --- |"]
    for (rule, reason), row in sorted(grouped.items()):
        packs = ", ".join(pack for pack in PACKS if pack in row["packs"])
        where = "<br>".join(f"`{path}`" for path in sorted(row["where"]))
        lines.append(f"| {rule} | {packs} | {where} | {_cell(reason)} |")
    return "\n".join(lines) + "\n"


def has_findings(synth_report: dict) -> bool:
    return any(report["violations"] for report in synth_report["pluginReports"])


def report_of(env: str, outdir: Path, overrides: dict[str, str]) -> tuple[dict, list[str], dict[str, str]]:
    """The validation report of one synth (written even when a finding fails it), its stacks, the inputs used."""
    inputs = {name: value for name, value in REQUIRED_INPUTS.get(env, {}).items() if name not in overrides}
    try:
        synthesized = synthesize(env, outdir, **inputs, **overrides)
        stacks = sorted(synthesized.templates)
    except RuntimeError:  # "ValidationFailed": a pack's findings fail the synth; the report says which
        stacks = sorted(path.name.removesuffix(".template.json") for path in outdir.glob("*.template.json"))
        if not (outdir / "validation-report.json").exists():
            raise
    except AssertionError:  # app.py refused the settings and said why on stderr
        raise SystemExit(2) from None
    return Synthesized(env=env, outdir=outdir, templates={}).validation_report, stacks, inputs


def page(reports: dict[str, str]) -> str:
    return "\n".join(reports[env] for env in reports)


def _write(text: str) -> None:
    current = PAGE.read_text()
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{BEGIN}\n\n{text}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rule packs, findings and acknowledgements per environment.")
    parser.add_argument("--env", action="append", choices=ENVIRONMENTS, help="environment (repeatable; all)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting, as cdk's -c")
    parser.add_argument("--write", action="store_true", help="write the report into docs/compliance.md")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.context)
    rendered, failed = {}, False
    with tempfile.TemporaryDirectory(prefix="compliance-") as scratch:
        for env in args.env or ENVIRONMENTS:
            report, stacks, inputs = report_of(env, Path(scratch) / env, overrides)
            rendered[env] = render(env, report, stacks, inputs)
            failed |= has_findings(report)
    text = page(rendered)
    if args.write:
        _write(text)
        print(f"wrote {PAGE.relative_to(ROOT)}")
    else:
        print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
