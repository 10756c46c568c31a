"""The lab's modules stand on their own: no import circles inside the Kubernetes simulator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[2] / "cockpit" / "lab"
SIM = "cockpit.lab.kubesim.sim"


def _module(path: Path) -> str:
    parts = path.relative_to(LAB.parents[1]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """Every module a file imports, TYPE_CHECKING blocks and function bodies included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_simulator_module_imports_the_simulator_back():
    importers = sorted(
        p.name for p in (LAB / "kubesim").glob("*.py") if p.name != "sim.py" and SIM in _imported(p)
    )
    assert importers == []


@pytest.mark.parametrize("module", ["cockpit.lab.kubesim.http", "cockpit.lab.kubesim.faults"])
def test_server_and_faults_load_without_the_simulator(module):
    probe = f"import sys, {module}; print({SIM!r} in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # one interpreter per module
def test_every_simulator_module_imports_on_its_own_in_a_fresh_interpreter():
    modules = sorted(_module(p) for p in (LAB / "kubesim").glob("*.py"))
    # One child per module (a fresh interpreter each), run by one parent to keep this quick.
    script = (
        "import subprocess, sys\n"
        "failed = [m for m in sys.argv[1:] if subprocess.run("
        "[sys.executable, '-c', 'import ' + m], capture_output=True).returncode]\n"
        "print(' '.join(failed))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert out.stdout.split() == []
