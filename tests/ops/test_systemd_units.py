"""The systemd units in deploy/systemd/ start what exists, read env files that ship, run as the
lockbox user with hardening, restart on failure, stop in bounded time; systemd-analyze accepts
them."""

import configparser
import re
import shutil
import subprocess

import pytest

from tests.processes import BIN, DEPLOY_ENV, ROOT, env_file_values

UNITS = ROOT / "deploy" / "systemd"
VENV_BIN = "/opt/lockbox/venv/bin/"
APP = "/opt/lockbox/app"
SERVICES = sorted(UNITS.glob("*.service"))
INSTANCES = ("1", "2")


def _unit(path):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def _all(path, key):
    """Every value of a key that may repeat (configparser keeps the last)."""
    return [line.split("=", 1)[1] for line in path.read_text().splitlines()
            if line.startswith(f"{key}=")]


def _instances(path):
    return INSTANCES if path.stem.endswith("@") else ("",)


def test_the_topology_has_its_units():
    assert {path.name for path in SERVICES} == {
        "lockbox-customer@.service", "lockbox-internal@.service", "lockbox-worker@.service",
        "lockbox-beat.service", "lockbox-exporter.service"}
    # Exactly one beat: lockbox-beat.service is no template that could be started twice.
    assert (UNITS / "lockbox.target").is_file()


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_each_service_is_hardened_and_bounded(path):
    unit = _unit(path)
    service = unit["Service"]
    assert (service["User"], service["Group"]) == ("lockbox", "lockbox")
    assert service["WorkingDirectory"] == APP
    assert service["Restart"] == "on-failure"
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert service["CapabilityBoundingSet"] == ""
    assert int(service["TimeoutStopSec"]) <= 60 and int(service["TimeoutStartSec"]) <= 60
    assert unit["Unit"]["PartOf"] == "lockbox.target"
    assert unit["Install"]["WantedBy"] == "lockbox.target"
    # Metrics files live in the unit's own runtime folder, the one place it may write.
    runtime = "/run/" + service["RuntimeDirectory"]
    assert f"PROMETHEUS_MULTIPROC_DIR={runtime}" in _all(path, "Environment")
    assert runtime in service["ReadWritePaths"].split()


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_each_service_reads_shipped_env_files_and_starts_a_command_that_exists(path):
    from django.core.management import get_commands

    exec_start = _unit(path)["Service"]["ExecStart"]
    program, *args = exec_start.split()
    assert program.startswith(VENV_BIN), program
    assert (BIN / program.removeprefix(VENV_BIN)).exists(), program
    if program.endswith("/python"):
        assert args[0] == "manage.py" and (ROOT / "manage.py").is_file()
        assert args[1] in get_commands(), args[1]
    elif program.endswith("/gunicorn"):
        assert args[0] == "lockbox_portal.wsgi"
    else:
        assert args[:2] == ["-A", "lockbox_portal"]
    for instance in _instances(path):
        files = [value.replace("%i", instance) for value in _all(path, "EnvironmentFile")]
        assert files[0] == "/etc/lockbox/common.env"
        values = {}
        for file in files:
            assert file.startswith("/etc/lockbox/"), file
            shipped = DEPLOY_ENV / file.removeprefix("/etc/lockbox/")
            assert shipped.is_file(), file
            values.update(env_file_values(shipped))
        # ${NAME} in the command line comes from the files the unit reads.
        for name in re.findall(r"\$\{(\w+)\}", exec_start):
            assert values.get(name), (path.name, instance, name)
        assert values.get("LOCKBOX_METRICS_PORT"), f"{path.name} {instance}: no metrics port"
        site = path.name.split("@")[0].removeprefix("lockbox-")
        if site in ("customer", "internal"):
            assert values["LOCKBOX_SITE"] == site


def test_no_two_processes_share_an_address():
    taken = []
    for path in DEPLOY_ENV.glob("*-*.env"):
        values = env_file_values(path)
        taken += [values["LOCKBOX_BIND"].rsplit(":", 1)[1]] if "LOCKBOX_BIND" in values else []
        taken.append(values["LOCKBOX_METRICS_PORT"])
    for name in ("beat", "exporter"):
        taken.append(env_file_values(DEPLOY_ENV / f"{name}.env")["LOCKBOX_METRICS_PORT"])
    assert len(taken) == len(set(taken)), taken


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install -y systemd)")
def test_systemd_analyze_verify_accepts_every_unit(tmp_path):
    """With the install paths pointed at this checkout and its venv (verify checks that each
    command is executable); any warning counts as a failure."""
    for path in [*SERVICES, UNITS / "lockbox.target"]:
        text = path.read_text().replace("/opt/lockbox/venv/bin", str(BIN)).replace(APP, str(ROOT))
        (tmp_path / path.name).write_text(text)
    names = ["lockbox.target", *[path.name.replace("@.", "@1.") for path in SERVICES]]
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", *names],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr
