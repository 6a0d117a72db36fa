"""``peersim explore`` refuses what it cannot serve: one line, exit 2, no traceback (needs no browser)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from conftest import command_env

from .conftest import SITE, stop_server

pytestmark = pytest.mark.ui

REFUSE_SECONDS = 60.0
"""Longest wait for the command to refuse (it does so before importing the server: about 1 s seen)."""


def _explore(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    """Run ``python -m peersim explore ARGS``; stop it (and fail) if it serves instead of refusing."""
    env = {**command_env(), "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "peersim", "explore", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=REFUSE_SECONDS)
    except subprocess.TimeoutExpired:
        stop_server(process)
        pytest.fail(f"peersim explore {' '.join(args)} did not refuse within {REFUSE_SECONDS:g} s")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_port_in_use_is_refused(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_line_refusal(_explore(str(SITE), "--port", str(port), cwd=tmp_path))
    assert line.startswith("peersim: error: ")
    assert f"127.0.0.1:{port}" in line
    assert "in use" in line


def test_missing_costs_file_is_refused(tmp_path):
    missing = tmp_path / "nonexistent.toml"
    line = _one_line_refusal(_explore("--costs", str(missing), "--port", "0", cwd=tmp_path))
    assert line.startswith("peersim: error: ")
    assert str(missing) in line
