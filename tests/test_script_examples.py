"""The README's Python examples work where users put them: in a script file, with or without a main guard.

Local pools and local Dask clusters start workers with forkserver or spawn,
which run the main script again in every worker. A script that starts them
from its top-level code, without ``if __name__ == "__main__":``, used to die
with 76 lines of ``BrokenProcessPool``; now its work runs in its own process,
with one warning saying what to add, and gives the same numbers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)

REPORT = """
import multiprocessing.forkserver as _forkserver
if "differences" in dir():
    print(differences.to_csv(index=False), end="")
print("forkserver started:", getattr(_forkserver._forkserver, "_forkserver_pid", None) is not None)
"""
"""Appended to each example: its comparison, if it makes one, and whether a local pool was started."""


def run_script(path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python PATH`` from the repository root, as a user runs a saved example."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,  # the examples' paths are relative to the repository root
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def as_script(block: str, guarded: bool) -> str:
    """The example as a user would save it, with the report appended; in ``main()`` if ``guarded``."""
    code = block + REPORT
    if not guarded:
        return code
    body = textwrap.indent(code, "    ")
    return f'def main() -> None:\n{body}\n\nif __name__ == "__main__":\n    main()\n'


def test_the_readme_has_a_python_example_that_compares_scenarios() -> None:
    assert PYTHON_BLOCKS
    assert any("compare_scenarios" in block for block in PYTHON_BLOCKS)


@pytest.mark.parametrize("number", range(len(PYTHON_BLOCKS)))
def test_each_readme_python_example_runs_as_a_script_with_and_without_a_main_guard(
    number: int, tmp_path: Path
) -> None:
    block = PYTHON_BLOCKS[number]
    outputs = {}
    for guarded in (False, True):
        script = tmp_path / f"example_{number}_{'guarded' if guarded else 'unguarded'}.py"
        script.write_text(as_script(block, guarded), encoding="utf-8")
        done = run_script(script)
        detail = (
            f"{script.name}: exit {done.returncode}\nstdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr}"
        )
        assert done.returncode == 0, detail
        assert "Traceback" not in done.stderr, detail
        assert "BrokenProcessPool" not in done.stdout + done.stderr, detail
        warned = done.stderr.count("RuntimeWarning")
        starts_workers = "compare_scenarios" in block and (os.cpu_count() or 1) > 1
        if starts_workers and not guarded:
            # One warning, saying what to add, and the work ran in this process (no forkserver).
            assert warned == 1, detail
            assert 'if __name__ == "__main__":' in done.stderr, detail
            assert "forkserver started: False" in done.stdout, detail
        else:
            assert warned == 0, detail
        if starts_workers and guarded:
            assert "forkserver started: True" in done.stdout, detail  # a pool of workers ran it
        outputs[guarded] = done.stdout.rsplit("forkserver started:", 1)[0]
    if "compare_scenarios" in block:
        lines = outputs[False].splitlines()
        header = lines[0].split(",")
        engagement = next(
            dict(zip(header, line.split(","), strict=True))
            for line in lines[1:]
            if ",overall,engagement_rate," in line
        )
        assert float(engagement["n"]) == 20
        # More supervision raises engagement at archetype_low (seen: interval 0.076 to 0.195).
        assert float(engagement["lo"]) > 0
    # One process or a pool of them: the same numbers, to the last digit.
    assert outputs[False] == outputs[True]


DETECTOR = """\
from peersim.executor import unguarded_main_script


def nested():
    return unguarded_main_script()


print("top:", unguarded_main_script())
print("nested:", nested())
if __name__ == "__main__":
    print("guarded:", unguarded_main_script())
    print("guarded nested:", nested())
"""


def test_an_unguarded_main_script_is_told_from_guarded_code(tmp_path: Path) -> None:
    script = tmp_path / "detector.py"
    script.write_text(DETECTOR, encoding="utf-8")
    done = run_script(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"top: {script}",
        f"nested: {script}",  # called from top-level code: the workers would run it too
        "guarded: None",
        "guarded nested: None",
    ]
    module = subprocess.run(
        [sys.executable, "-m", "detector"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        check=False,
    )
    assert module.returncode == 0, module.stderr
    assert module.stdout.splitlines() == [
        "top: detector",
        "nested: detector",
        "guarded: None",
        "guarded nested: None",
    ]
    inline = subprocess.run(
        [sys.executable, "-c", "from peersim.executor import unguarded_main_script as u; print(u())"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert inline.stdout.strip() == "None", inline.stderr  # python -c: workers run nothing again
