"""Compiles, right after the install, the Python bytecode that the first synths would otherwise compile
themselves: the aws-cdk-lib modules that the app and the bootstrap policy app import when
they are loaded (their module-level imports, followed through this repository's own modules; the constructs
of optional features are imported only when built, stacks/echo_stack.py), jsii's runtime, and the settings
(pydantic). Not moto's: the local AWS compiles its own while the policy app is synthesized beside it, off the
critical path, where compiling it here would put 4 s on it.

    .venv/bin/python -m tools.warm_bytecode      # the venv's install runs it while npm ci downloads Node

aws-cdk-lib's modules are compiled, never imported: importing one starts jsii, which needs Node, and Node may
not be installed yet.
"""

from __future__ import annotations

import ast
import compileall
import importlib
import sysconfig
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = ("app", "bootstrap.app")  # the two CDK apps this repository synthesizes
JSII_PACKAGES = ("aws_cdk", "cdk_nag", "constructs")
# Imported by every module of those packages (their `_jsii` and the runtime), whatever the app uses.
ALWAYS = ("jsii", "aws_cdk/_jsii", "aws_cdk/interfaces", "aws_cdk/cloud_assembly_schema", "aws_cdk/cx_api",
          "aws_cdk/asset_awscli_v1", "aws_cdk/asset_node_proxy_agent_v6", "cdk_nag/_jsii", "constructs/_jsii")


def _own_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def _top_level_imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:  # module level only: not the lazy ones
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def imported_modules(entry_points: Iterable[str] = ENTRY_POINTS) -> set[str]:
    """The aws_cdk, cdk_nag and constructs modules that loading `entry_points` imports."""
    seen, pending, found = set(), list(entry_points), set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        if module.split(".")[0] in JSII_PACKAGES:
            found.add(module)
        elif (path := _own_file(module)) is not None:
            pending.extend(_top_level_imports(path))
    return found


def module_files(modules: Iterable[str], site_packages: Path) -> list[Path]:
    """Each module's source file and its packages' (`from aws_cdk import Stack` names a class, not a module:
    only what exists as a file is kept), and every file of ALWAYS."""
    files = set()
    for module in modules:
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            base = site_packages.joinpath(*parts[:depth])
            files.update(path for path in (base / "__init__.py", base.with_suffix(".py")) if path.is_file())
    for directory in ALWAYS:
        files.update((site_packages / directory).rglob("*.py"))
    return sorted(files, key=lambda path: path.stat().st_size, reverse=True)  # the largest first, for the pool


def _compile(path: Path) -> bool:
    return bool(compileall.compile_file(str(path), quiet=2))


def _import_settings() -> None:
    importlib.import_module("settings")  # pure Python: importing writes its bytecode, pydantic's included


def main() -> int:
    files = module_files(imported_modules(), Path(sysconfig.get_paths()["purelib"]))
    with ProcessPoolExecutor(max_workers=2) as pool:
        settings = pool.submit(_import_settings)
        compiled = list(pool.map(_compile, files))
        settings.result()
    return 0 if all(compiled) else 1


if __name__ == "__main__":
    raise SystemExit(main())
