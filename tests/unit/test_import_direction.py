"""Imports flow one way: cockpit/ and actions/ never load textual or widgets, so the core runs
headless (`cockpit snapshot`, the audit tools, the lab). Checked twice: by importing every module
in a fresh interpreter, and by scanning the source for static imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("textual", "widgets")


def _modules(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def test_core_and_actions_load_without_textual_or_widgets() -> None:
    modules = _modules("cockpit") + _modules("actions")
    assert "cockpit.scheduler" in modules and "cockpit.state" in modules
    script = f"""
import importlib, json, sys
failed = {{}}
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception as exc:  # an optional dependency missing is reported, not hidden
        failed[name] = repr(exc)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print(json.dumps({{"loaded": loaded, "failed": failed}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], f"core/actions pulled in UI modules: {report['loaded']}"
    assert report["failed"] == {}, f"modules that failed to import: {report['failed']}"


def _static_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


UI_ENTRY_POINTS = ("cockpit/cli.py", "cockpit/lab/cli.py")  # `cockpit` and `cockpit demo`


def _is_lazy_ui_entry(path: Path, tree_line: int) -> bool:
    """The command-line entry points start the UI with an import inside a function: allowed."""
    if path.relative_to(ROOT).as_posix() not in UI_ENTRY_POINTS:
        return False
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            if func.lineno <= tree_line <= (func.end_lineno or func.lineno):
                return True
    return False


def test_nothing_in_core_or_actions_imports_the_ui_statically() -> None:
    offenders = []
    for package in ("cockpit", "actions"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module in _static_imports(path):
                if module.split(".")[0] in FORBIDDEN and not _is_lazy_ui_entry(path, line):
                    offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert offenders == []
