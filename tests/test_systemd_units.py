"""systemd/: the unit and its companions agree with what the daemon reads and needs.

Parsed here with a small reader of the unit-file syntax (configparser cannot hold the
repeated keys units use); `systemd-analyze verify` and `systemd-sysusers` run as well
where this machine has them.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import (
    CREDENTIAL_MQTT_PASSWORD,
    CREDENTIAL_POS_TOKEN,
    Config,
    DatabaseConfig,
    PrinterConfig,
    read_secret,
)
from edge.config.load import ENV_CREDENTIALS, SYSTEM_CONFIG_PATH

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNIT = SYSTEMD / "store-edge.service"

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections → key → every value in order; an empty assignment resets the list."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"assignment outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        values = section.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()
    return unit


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key, [])
    assert len(values) == 1, f"[{section}] {key}= should be set once, got {values}"
    return values[0]


def words(unit: Unit, section: str, key: str) -> list[str]:
    return [w for value in unit[section].get(key, []) for w in value.split()]


def test_unit_runs_the_daemon_with_the_system_config(unit: Unit) -> None:
    argv = shlex.split(one(unit, "Service", "ExecStart"))
    assert argv == [
        "/opt/store-edge/.venv/bin/edge",
        "run",
        "--config",
        str(SYSTEM_CONFIG_PATH),
    ]
    assert one(unit, "Service", "Type") == "exec"
    assert one(unit, "Service", "User") == "store-edge"
    assert one(unit, "Service", "Group") == "store-edge"
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_unit_restarts_and_stops_in_order(unit: Unit) -> None:
    assert one(unit, "Service", "Restart") == "always"
    assert one(unit, "Service", "RestartSec")
    assert int(one(unit, "Unit", "StartLimitBurst")) >= 3
    assert one(unit, "Unit", "StartLimitIntervalSec")
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    stop_s = int(one(unit, "Service", "TimeoutStopSec"))
    assert stop_s == 30
    # Daemon._shutdown waits for the ticket being printed (a write and the status check after
    # it, each with its deadline, plus 5 s), then says goodbye on MQTT (at most 3 s): with
    # the default deadlines systemd must not SIGKILL it before that.
    fields = PrinterConfig.model_fields
    write, status = fields["write_timeout_s"].default, fields["status_timeout_s"].default
    assert stop_s > (2 * write + status + 5.0) + 3.0
    # Offline-first: never wait for network-online.target.
    assert "network-online.target" not in " ".join(words(unit, "Unit", "After"))
    assert "network-online.target" not in " ".join(words(unit, "Unit", "Wants"))


def test_state_directory_holds_the_default_database_and_control_socket(unit: Unit) -> None:
    state = Path("/var/lib") / one(unit, "Service", "StateDirectory")
    assert DatabaseConfig().path.parent == state
    config = Config.model_validate({"store": {"id": "st_x"}})
    assert config.control_socket_path.parent == state
    assert str(state) in words(unit, "Service", "ReadWritePaths")
    # The group (technicians running `edge`) may enter it; nobody else.
    assert one(unit, "Service", "StateDirectoryMode") == "0750"


def test_credentials_are_the_ones_the_daemon_reads(
    unit: Unit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = dict(v.split(":", 1) for v in unit["Service"]["LoadCredential"])
    assert set(loaded) == {CREDENTIAL_MQTT_PASSWORD, CREDENTIAL_POS_TOKEN}
    for source in loaded.values():
        # A name looked up in /etc/credstore: unlike an absolute path, a missing one does
        # not stop the service from starting (a store without POS has no token).
        assert not source.startswith("/")
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", source)

    # What systemd hands the daemon: $CREDENTIALS_DIRECTORY/<id>.
    for name in loaded:
        (tmp_path / name).write_text(f"secret of {name}\n", encoding="utf-8")
    monkeypatch.setenv(ENV_CREDENTIALS, str(tmp_path))
    for name in loaded:
        assert read_secret("", name) == f"secret of {name}"


def test_unit_is_sandboxed(unit: Unit) -> None:
    service = unit["Service"]
    for key, want in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "DevicePolicy": "closed",
    }.items():
        assert one(unit, "Service", key) == want, key
    assert service["CapabilityBoundingSet"] == []
    assert set(words(unit, "Service", "SupplementaryGroups")) == {"lp", "dialout", "plugdev"}
    assert set(words(unit, "Service", "RestrictAddressFamilies")) == {
        "AF_INET",
        "AF_INET6",
        "AF_UNIX",
        "AF_BLUETOOTH",
        "AF_NETLINK",
    }
    allowed = {tuple(v.split()) for v in service["DeviceAllow"]}
    assert {("char-usb", "rw"), ("char-ttyUSB", "rw"), ("char-ttyACM", "rw")} <= allowed


def test_sysusers_creates_the_user_and_the_groups_the_unit_joins(unit: Unit) -> None:
    entries = [
        shlex.split(line)
        for line in (SYSTEMD / "store-edge.sysusers").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    users = {e[1]: e for e in entries if e[0] == "u"}
    assert set(users) == {"store-edge"}
    assert users["store-edge"][4] == "/var/lib/store-edge"
    groups = {e[1] for e in entries if e[0] == "g"}
    assert set(words(unit, "Service", "SupplementaryGroups")) <= groups


def test_tmpfiles_own_the_state_and_config_directories() -> None:
    lines = {
        fields[1]: fields
        for line in (SYSTEMD / "store-edge.tmpfiles").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
        for fields in [line.split()]
    }
    state = "/var/lib/store-edge"
    assert lines[state][:5] == ["d", state, "0750", "store-edge", "store-edge"]
    config_dir = str(SYSTEM_CONFIG_PATH.parent)
    assert lines[config_dir][:5] == ["d", config_dir, "0750", "root", "store-edge"]
    assert lines[str(SYSTEM_CONFIG_PATH)][:5] == [
        "z",
        str(SYSTEM_CONFIG_PATH),
        "0640",
        "root",
        "store-edge",
    ]


_UDEV_ITEM = re.compile(
    r'^(?P<key>[A-Z_]+)(\{(?P<attr>[^}]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"$'
)
_UDEV_KEYS = {
    "ACTION",
    "SUBSYSTEM",
    "KERNEL",
    "DEVTYPE",
    "ENV",
    "ATTR",
    "ATTRS",
    "IMPORT",
    "GROUP",
    "MODE",
    "TAG",
    "SYMLINK",
    "OPTIONS",
    "GOTO",
    "LABEL",
}


def test_udev_rules_are_well_formed(unit: Unit) -> None:
    text = (SYSTEMD / "60-store-edge-printers.rules").read_text(encoding="utf-8")
    rules = [
        line.strip()
        for line in text.replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    gotos, labels, groups, links = set(), set(), set(), []
    for rule in rules:
        items = [item.strip() for item in re.split(r",\s*(?=[A-Z_]+[{=!+:-])", rule)]
        for item in items:
            m = _UDEV_ITEM.match(item)
            assert m, f'not KEY op "value": {item!r} in {rule!r}'
            assert m["key"] in _UDEV_KEYS, m["key"]
            if m["key"] == "GOTO":
                gotos.add(m["value"])
            elif m["key"] == "LABEL":
                labels.add(m["value"])
            elif m["key"] == "GROUP":
                groups.add(m["value"])
            elif m["key"] == "SYMLINK":
                links.append(m["value"])
    assert gotos <= labels, f"GOTO without LABEL: {gotos - labels}"
    assert groups <= set(words(unit, "Service", "SupplementaryGroups"))
    assert links
    assert all(link.startswith("store-edge/") for link in links)


def test_modules_load_covers_the_device_classes_allowed_by_driver() -> None:
    modules = {
        line.strip()
        for line in (SYSTEMD / "store-edge.modules-load").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    # char-ttyUSB appears in /proc/devices with usbserial, char-ttyACM with cdc_acm.
    assert {"usbserial", "cdc_acm"} <= modules


def test_readme_names_every_file() -> None:
    readme = (SYSTEMD / "README.md").read_text(encoding="utf-8")
    for path in SYSTEMD.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, path.name
    for step in (
        "systemd-sysusers",
        "systemd-tmpfiles --create",
        "udevadm control --reload",
        "systemctl enable --now store-edge",
        "edge doctor",
    ):
        assert step in readme, step


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this checkout's `edge`.
    edge = Path(sys.executable).parent / "edge"
    if not edge.exists():
        pytest.skip("no edge script beside the interpreter")
    text = UNIT.read_text(encoding="utf-8").replace("/opt/store-edge/.venv/bin/edge", str(edge))
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert UNIT.name not in result.stderr, result.stderr


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers here")
def test_systemd_sysusers_accepts_the_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group"):
        (tmp_path / "etc" / name).write_text("", encoding="utf-8")
    result = subprocess.run(
        [
            "systemd-sysusers",
            f"--root={tmp_path}",
            "--dry-run",
            str(SYSTEMD / "store-edge.sysusers"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "store-edge" in result.stderr + result.stdout
