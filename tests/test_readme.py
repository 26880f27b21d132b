"""The README's commands and code are true: the Python example runs, every CLI command it lists exists."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_python_example_runs(tmp_path: Path, monkeypatch: object) -> None:
    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block is not None
    shutil.copytree(REPO / "sample_project", tmp_path / "sample_project")
    for leftover in ("data/lake", "data/exports", ".hygge"):
        shutil.rmtree(tmp_path / "sample_project" / leftover, ignore_errors=True)
    code = block.group(1).replace('"sample_project"', repr(str(tmp_path / "sample_project")))
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    assert (tmp_path / "sample_project" / "data" / "lake" / "orders.parquet").exists()


def test_every_command_in_the_cli_table_has_help() -> None:
    from typer.testing import CliRunner

    from hygge.cli import app

    commands = set(re.findall(r"^\| `hygge ([a-z]+)", README, re.M))
    assert {"run", "check", "ls", "graph", "history", "state", "init", "new", "upgrade"} <= commands
    for command in commands:
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


def test_setup_commands_are_marked_for_ci() -> None:
    for marker in ("sample-command", "test-command"):
        assert f"<!-- {marker} -->" in README and f"<!-- /{marker} -->" in README
    assert "test-command" in (REPO / ".ci" / "run").read_text()
