"""The settings table of the documentation, from settings/model.py and cdk.json, so the two never disagree.

    .venv/bin/python -m tools.settings_table            # print it
    .venv/bin/python -m tools.settings_table --write    # replace the table in the page that holds it
"""

from __future__ import annotations

import json
import sys
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


TABLE_PAGE = ROOT / "docs" / "settings.md"
_HEADER = "| setting | default |"


def write_table(page: Path = TABLE_PAGE) -> None:
    lines = page.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(_HEADER))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    page.write_text("".join(lines[:start]) + settings_table() + "\n" + "".join(lines[end:]))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_table()
    else:
        print(settings_table())
