"""Prints the README's settings table from settings/model.py and cdk.json, so the two never disagree.

    .venv/bin/python -m tools.settings_table          # paste over the table in README.md
"""

from __future__ import annotations

import json
from pathlib import Path

from settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _shown(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    return str(value)


def settings_table() -> str:
    """Default, then what cdk.json's dev and prod blocks change (blank: the default applies)."""
    environments = json.loads((ROOT / "cdk.json").read_text())["context"]["environments"]
    rows = ["| setting | default | dev | prod | what it is, allowed values |", "| --- | --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        cells = []
        for env in ("dev", "prod"):
            value = env if name == "env" else environments[env].get(name)
            cells.append(f"`{_shown(value)}`" if value is not None else "")
        rows.append(f"| `{name}` | `{_shown(field.default)}` | {cells[0]} | {cells[1]} | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
