"""The deployment files in deploy/: the Dockerfile's facts (stages, user, volumes,
health check, signals, entrypoint), the compose file, the systemd unit, the example
container config passing `alertbot check`, and deploy/build_image.sh's skip path.
Building the image is slow and needs root + buildah, so it runs only with
ALERTBOT_BUILD_IMAGE=1."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
FAKE_ENV = {"TELEGRAM_TOKEN": "123456:deploy-test-token-zz9", "TELEGRAM_CHAT_ID": "-1001"}
BUILD_TOOLS = ("gcc", "g++", "cc ", "make", "build-essential", "python3-dev", "clang")

Instruction = tuple[str, str]  # (KEYWORD, arguments)


def dockerfile_stages(text: str) -> tuple[list[Instruction], list[list[Instruction]]]:
    """(instructions before the first FROM, [instructions of each stage, FROM first])."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    preamble: list[Instruction] = []
    stages: list[list[Instruction]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        item = (keyword.upper(), " ".join(args.split()))
        if item[0] == "FROM":
            stages.append([item])
        elif stages:
            stages[-1].append(item)
        else:
            preamble.append(item)
    return preamble, stages


def args_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


@pytest.fixture(scope="module")
def dockerfile() -> tuple[list[Instruction], list[list[Instruction]]]:
    return dockerfile_stages((DEPLOY / "Dockerfile").read_text())


def test_dockerfile_is_multi_stage_over_a_slim_python_base(
        dockerfile: tuple[list[Instruction], list[list[Instruction]]]) -> None:
    """Two stages, both FROM ${BASE}, whose default is a slim Python 3.11/3.12 image."""
    preamble, stages = dockerfile
    assert len(stages) == 2
    assert re.fullmatch(r"BASE=python:3\.1[12]-slim", args_of(preamble, "ARG")[0])
    assert stages[0][0][1] == "${BASE} AS build"
    assert stages[1][0][1] == "${BASE}"


def test_final_stage_copies_only_the_virtualenv_and_has_no_build_tools(
        dockerfile: tuple[list[Instruction], list[list[Instruction]]]) -> None:
    """The final stage copies /opt/alertbot from `build`, installs nothing, builds nothing."""
    final = dockerfile[1][1]
    assert args_of(final, "COPY") == ["--from=build /opt/alertbot /opt/alertbot"]
    assert not args_of(final, "ADD")
    for run in args_of(final, "RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|pip3)\b", run), run
        assert not any(tool in f"{run} " for tool in BUILD_TOOLS), run
    build = dockerfile[1][0]
    assert any("pip wheel" in run for run in args_of(build, "RUN"))


def test_final_stage_runs_as_a_non_root_user(
        dockerfile: tuple[list[Instruction], list[list[Instruction]]]) -> None:
    """USER is set in the final stage, is not root/0, and the RUN creating it matches."""
    final = dockerfile[1][1]
    users = args_of(final, "USER")
    assert users, "no USER in the final stage"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    assert any(f"--uid {user}" in run for run in args_of(final, "RUN"))
    assert any(f"chown {user}:{group} /data" in run for run in args_of(final, "RUN"))


def test_volumes_healthcheck_signal_entrypoint_and_cmd(
        dockerfile: tuple[list[Instruction], list[list[Instruction]]]) -> None:
    """/config and /data volumes, `alertbot health`, SIGTERM, `alertbot run -c /config/...`."""
    final = dockerfile[1][1]
    assert set(json.loads(args_of(final, "VOLUME")[0])) == {"/config", "/data"}
    health = args_of(final, "HEALTHCHECK")[0]
    assert json.loads(health.split(" CMD ", 1)[1]) == ["alertbot", "health"]
    assert args_of(final, "STOPSIGNAL") == ["SIGTERM"]
    assert json.loads(args_of(final, "ENTRYPOINT")[0]) == ["alertbot"]
    assert json.loads(args_of(final, "CMD")[0]) == ["run", "-c", "/config/alertbot.yaml"]
    # `alertbot health` has no -c: it finds the config through this variable.
    assert "ALERTBOT_CONFIG=/config/alertbot.yaml" in args_of(final, "ENV")[0].split()
    assert args_of(final, "EXPOSE") == ["9464"]


def test_build_context_keeps_what_the_wheel_needs() -> None:
    """Every path the build stage COPYs exists and .dockerignore does not exclude it."""
    _, stages = dockerfile_stages((DEPLOY / "Dockerfile").read_text())
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for copy in args_of(stages[0], "COPY"):
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert source not in ignored and source.rstrip("/") not in ignored
    assert {".git", "state", "tests", "**/.env"} <= ignored


def load_yaml(path: Path) -> dict[str, object]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_mounts_config_and_state_and_passes_secrets_by_env_file() -> None:
    """The compose service builds the Dockerfile, mounts /config read-only and /data,
    reads secrets from an env_file, restarts, and publishes 9464 on loopback only."""
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    service = compose["services"]["alertbot"]  # type: ignore[index]
    context = DEPLOY / service["build"]["context"]
    assert (context / service["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    env_files = [e["path"] if isinstance(e, dict) else e for e in service["env_file"]]
    assert env_files == ["alertbot.env"]
    volumes = {v.split(":")[1]: v for v in service["volumes"]}
    assert volumes["/config"].endswith(":ro") and "/data" in volumes
    assert volumes["/data"].split(":")[0] in compose["volumes"]  # type: ignore[operator]
    assert service["ports"] == ["127.0.0.1:9464:9464"]
    assert service["stop_signal"] == "SIGTERM"
    assert "host.docker.internal:host-gateway" in service["extra_hosts"]
    # Secrets never sit in the compose file itself: only the config path is set inline.
    assert set(service["environment"]) == {"ALERTBOT_CONFIG"}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd unit → {section: {key: [values, in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {line}"
        current.setdefault(key, []).append(value)
    return sections


def test_systemd_unit_restarts_stops_gently_and_is_sandboxed() -> None:
    """Restart=on-failure, KillSignal=SIGTERM, an unprivileged user and the sandbox set."""
    unit = parse_unit((DEPLOY / "alertbot.service").read_text())
    service = unit["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["Restart"] == "on-failure"
    assert one["KillSignal"] == "SIGTERM"
    assert one.get("DynamicUser") == "yes" or one.get("User") not in (None, "root")
    assert one["ExecStart"].endswith("run -c /etc/alertbot/alertbot.yaml --log-format json")
    assert one["StateDirectory"] == "alertbot"
    for key, value in {"ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "PrivateTmp": "yes", "ProtectHome": "yes"}.items():
        assert one[key] == value, key
    assert set(one["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert one["CapabilityBoundingSet"] == ""
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd parses every line without complaint (ExecStart pointed at this alertbot)."""
    alertbot = shutil.which("alertbot")
    if alertbot is None:
        pytest.skip("alertbot is not on PATH")
    text = (DEPLOY / "alertbot.service").read_text()
    unit = tmp_path / "alertbot.service"
    unit.write_text(text.replace("/opt/alertbot/bin/alertbot", alertbot))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                            capture_output=True, text=True, timeout=30)
    # verify exits 0 on values it ignores ("Failed to parse ..."): any output is a finding.
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


def container_layout(tmp_path: Path, listen: str | None = None) -> Path:
    """/config as the container sees it: alertbot.yaml (the example) and rules/."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "rules", config / "rules")
    text = (DEPLOY / "config.example.yaml").read_text()
    if listen is not None:
        text = text.replace('listen: "0.0.0.0:9464"', f'listen: "{listen}"')
        assert listen in text
    (config / "alertbot.yaml").write_text(text)
    return config / "alertbot.yaml"


def alertbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("ALERTBOT_CONFIG", *FAKE_ENV)} | env
    return subprocess.run([sys.executable, "-m", "alertbot", *args], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_example_container_config_passes_check_with_its_env(tmp_path: Path) -> None:
    """deploy/config.example.yaml + rules/ in the /config layout passes `alertbot check`."""
    path = container_layout(tmp_path)
    result = alertbot("check", "-c", str(path), env=FAKE_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith("files OK")
    # /chia-ssl exists only inside the container; any other warning is a real finding.
    warnings = [line for line in result.stdout.splitlines() if "warning" in line]
    assert all("/chia-ssl" in line or "ssl_dir" in line for line in warnings), warnings


def test_example_container_config_names_missing_secrets_without_values(
        tmp_path: Path) -> None:
    """Without its env vars the check fails, naming each variable at its line."""
    path = container_layout(tmp_path)
    result = alertbot("check", "-c", str(path), env={"TELEGRAM_CHAT_ID": "-1001"})
    assert result.returncode == 1
    assert re.search(r"alertbot\.yaml:\d+:\d+: environment variable \$\{TELEGRAM_TOKEN\} "
                     r"is not set", result.stdout), result.stdout
    assert "TELEGRAM_CHAT_ID" not in result.stdout and "-1001" not in result.stdout


def test_example_container_config_keeps_state_in_the_data_volume() -> None:
    """state_dir is the /data volume and rules come from /config/rules."""
    config = load_yaml(DEPLOY / "config.example.yaml")
    assert config["state_dir"] == "/data"
    assert config["rules"] == ["rules/"]
    assert config["http"] == {"listen": "0.0.0.0:9464"}


def test_container_config_has_every_source_of_the_plain_example() -> None:
    """A source kind added to deploy/alertbot.yaml also gets a block in the container config."""
    plain = load_yaml(DEPLOY / "alertbot.yaml")["sources"]
    container = load_yaml(DEPLOY / "config.example.yaml")["sources"]
    kinds = {block["kind"] for block in plain.values()}  # type: ignore[attr-defined]
    assert kinds <= {block["kind"] for block in container.values()}  # type: ignore[attr-defined]


@pytest.fixture
def healthz() -> Iterator[tuple[int, list[str]]]:
    """A stand-in ops endpoint on 127.0.0.1:0 answering /healthz; yields (port, paths)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_reaches_a_service_listening_on_all_interfaces(
        tmp_path: Path, healthz: tuple[int, list[str]]) -> None:
    """With listen 0.0.0.0 (the container config), `alertbot health` via $ALERTBOT_CONFIG
    asks 127.0.0.1 and exits 0; with nothing listening it exits 1."""
    port, seen = healthz
    path = container_layout(tmp_path, listen=f"0.0.0.0:{port}")
    result = alertbot("health", env={**FAKE_ENV, "ALERTBOT_CONFIG": str(path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert seen == ["/healthz"]
    dead = container_layout(tmp_path / "dead", listen="0.0.0.0:1")
    result = alertbot("health", env={**FAKE_ENV, "ALERTBOT_CONFIG": str(dead)})
    assert result.returncode == 1
    assert "unreachable" in result.stdout


def run_build_script(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("bash") or "/bin/bash",
                           str(DEPLOY / "build_image.sh"), *args],
                          env={**os.environ, "PATH": path}, capture_output=True, text=True,
                          timeout=60)


def test_build_script_skips_clearly_without_buildah(tmp_path: Path) -> None:
    """Without buildah the script says SKIPPED and why, exit 0; with --require, exit 1."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "date"):  # all it needs before looking for buildah
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    skipped = run_build_script(path=str(bin_dir))
    assert skipped.returncode == 0, skipped.stderr
    assert "SKIPPED: buildah not found" in skipped.stderr
    required = run_build_script("--require", path=str(bin_dir))
    assert required.returncode == 1
    assert "FAILED: buildah not found" in required.stderr


@pytest.mark.skipif(os.environ.get("ALERTBOT_BUILD_IMAGE") != "1",
                    reason="set ALERTBOT_BUILD_IMAGE=1 to build the image (root + buildah)")
def test_image_builds_checks_and_answers_health() -> None:
    """deploy/build_image.sh --require builds the image and its smoke test passes."""
    result = subprocess.run(["bash", str(DEPLOY / "build_image.sh"), "--require"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "rules in" in result.stderr and "files OK" in result.stderr
    assert "OK: " in result.stderr and "answers health" in result.stderr
