"""``server.yaml`` validation: a bad key or value stops the start with one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Config, load_config
from tests.conftest import REPO


def run_app(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--config", str(config), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: {http: eighty}", "port.http: expected int, got str"),
        ("port: {http: 70000}", "port.http: expected int <= 65535"),
        ("prot: http", "prot: unknown key"),
        ("jwt: {secretKey: 3}", "jwt.secretKey: expected str, got int"),
        ("board: laptop", "board: invalid enum value 'laptop'"),
        ("gpio: {maxPressMs: 1}", "gpio.maxPressMs: expected int >= 100"),
        ("security: {loginMaxFailures: 0}", "security.loginMaxFailures: expected int >= 1"),
        ("port: [", "not valid YAML"),
        ("network: {wolAddress: '999.1.1.1:9'}", "network.wolAddress: '999.1.1.1:9' is not an IPv4 address"),
        ("network: {wolAddress: '10.0.0.255:0'}", "network.wolAddress: '10.0.0.255:0': the port is not 1-65535"),
    ],
)
def test_bad_config_stops_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(text)
    result = run_app(config)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_missing_file_and_bad_port_flag(tmp_path: Path) -> None:
    assert run_app(tmp_path / "absent.yaml").returncode == 2
    config = tmp_path / "server.yaml"
    config.write_text("board: sim\n")
    result = run_app(config, "--port", "0")
    assert result.returncode == 2 and "--port" in result.stderr


def test_keys_are_case_insensitive_like_viper(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("PORT: {Http: 81}\nJWT: {SECRETKEY: s3}\nsecurity: {loginlockoutduration: 30}\n")
    loaded = load_config(config)
    assert (loaded.port.http, loaded.jwt.secret_key, loaded.security.login_lockout_duration) == (81, "s3", 30)


def test_repo_server_yaml_is_the_sim_board(tmp_path: Path) -> None:
    loaded = load_config(REPO / "server.yaml")
    assert (loaded.board, loaded.host, loaded.port.http, loaded.root) == ("sim", "127.0.0.1", 8000, ".state")
    # Every NanoKVM key keeps NanoKVM's default except the sim's address and ports, and the lock-out
    # (on, as on a board: issue 13).
    defaults = Config()
    assert loaded.jwt == defaults.jwt and loaded.security.login_lockout_duration == 300
    assert loaded.authentication == "enable" and loaded.proto == "http"
