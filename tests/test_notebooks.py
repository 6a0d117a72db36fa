"""Every notebook runs top to bottom on the public API and is stored without outputs."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    # The repository's layout, so "../scenarios" resolves as it does when run from notebooks/,
    # but figures and outputs the notebook writes land in a temporary folder.
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
    workdir = tmp_path / "notebooks"
    workdir.mkdir()
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    last = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]
    kinds = {key for output in last.outputs for key in output.get("data", {})}
    assert "image/png" in kinds, "the last cell should end in a figure"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names(source: str) -> list[str]:
    """Private peersim modules or names imported, and private attributes used, in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("peersim"):
            module = node.module or ""
            parts = [*module.split("."), *(alias.name for alias in node.names)]
            found += [f"{module}.{part}" for part in parts if _private(part)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            found.append(ast.unparse(node))
    return found


def test_the_private_name_check_catches_private_imports_and_attributes() -> None:
    source = "from peersim.model.patient_rules import _sigmoid\nx = model._records\ny = kind.__name__"
    assert private_names(source) == ["peersim.model.patient_rules._sigmoid", "model._records"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_only_public_names(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    found = [name for source in code for name in private_names(source)]
    assert found == [], f"{path.name} reaches into private names"
