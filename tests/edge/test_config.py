"""The configuration file: CONTRACT §1 example, defaults, located errors, discovery, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config import (
    Config,
    ConfigError,
    ConfigIssue,
    find_config_path,
    load_config,
    read_secret,
)
from edge.config import load as load_module
from edge.config.uris import check_printer_uri, parse_broker_url

# CONTRACT §1, both blocks, verbatim.
CONTRACT_EXAMPLE = """\
[store]
id = "st_demo"                 # required
name = "Burger Lab Bastille"   # optional
timezone = "Europe/Paris"      # IANA name, default "UTC"
locale = "fr"                  # ticket language: "fr" or "en" (default "en")

[cloud]                        # whole table optional: without it the daemon runs offline
url = "mqtt://127.0.0.1:1883"  # mqtt://host[:port] (1883), mqtts://host[:port] (8883), or unix:///path/to.sock
client_id = "edge-st_demo"     # default "edge-<store.id>"
topic_prefix = "stores"        # default "stores"
username = ""                  # optional
password_file = ""             # optional
ca_file = ""                   # TLS: trust anchor (mqtts)
cert_file = ""                 # TLS: client certificate (mutual TLS)
key_file = ""
keepalive_s = 30
session_expiry_s = 604800      # persistent session: orders queued while offline are kept by the broker

[database]
path = "/var/lib/store-edge/edge.db"   # default; created with parents if missing

[orders]
release_lead_min = 30          # scheduled orders are released this long before scheduled_for

[[printers]]                   # zero or more
name = "kitchen"               # unique, required
uri = "tcp://192.168.1.50:9100"
width = 48                     # characters per line in font A (80 mm paper: 48, 58 mm: 32)
encoding = "cp1252"            # code page sent with ESC t (cp1252 = WPC1252, n=16: covers French, œ and €)
roles = ["kitchen"]            # which tickets it prints: "kitchen" tickets; "receipt": a customer receipt for every accepted order (default ["kitchen"])
brands = []                    # only orders of these brands (virtual brands); empty = all
copies = 1
backup = ""                    # name of the printer that takes over while this one is down
failover_after_s = 60          # how long this printer may be down before its jobs go to the backup
cash_drawer = false            # a drawer is wired to this printer's kick port

[pos]                          # optional; without it nothing is injected
kind = "square"                # "none" (default), "square", "toast", "clover", …
base_url = ""                  # vendor API base URL; empty = the vendor's production URL
token_file = ""                # API access token (or a systemd credential)
location_id = ""               # the vendor's id of this store (Square location, Toast restaurant GUID, Clover merchant id)

[card_reader]                  # optional
uri = "serial:///dev/ttyACM0?baudrate=9600"
protocol = "concert"
"""  # noqa: E501 (copied verbatim from CONTRACT §1, comments included)

TWO_PRINTERS = """\
[store]
id = "st_1"

[[printers]]
name = "kitchen"
uri = "tcp://10.0.0.5"
backup = "bar"

[[printers]]
name = "bar"
uri = "usb://04b8:0e15?serial=X1"
width = 32
"""


def write(tmp_path: Path, text: str, name: str = "edge.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(tmp_path: Path, text: str) -> list[ConfigIssue]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == path
    assert all(issue.file == str(path) for issue in caught.value.issues)
    return caught.value.issues


def only_issue(tmp_path: Path, text: str) -> ConfigIssue:
    issues = issues_of(tmp_path, text)
    assert len(issues) == 1, issues
    return issues[0]


def test_contract_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONTRACT_EXAMPLE))

    assert config.store.id == "st_demo"
    assert config.store.locale == "fr"
    assert str(config.store.tzinfo) == "Europe/Paris"
    assert config.cloud is not None
    assert (config.cloud.host, config.cloud.port, config.cloud.tls) == ("127.0.0.1", 1883, False)
    assert config.cloud_client_id == "edge-st_demo"
    assert config.cloud.session_expiry_s == 604800
    assert config.database.path == Path("/var/lib/store-edge/edge.db")
    assert config.orders.release_lead_min == 30
    [printer] = config.printers
    assert (printer.name, printer.scheme, printer.width) == ("kitchen", "tcp", 48)
    assert printer.roles == ["kitchen"]
    assert printer.failover_after_s == 60
    assert config.pos.kind == "square"
    assert config.card_reader is not None
    assert config.card_reader.protocol == "concert"


def test_defaults(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[store]\nid = "st_1"\n\n[[printers]]\nname = "p"\nuri = "file:///tmp/p.bin"\n',
        )
    )

    assert (config.store.name, config.store.timezone, config.store.locale) == ("", "UTC", "en")
    assert config.cloud is None
    assert config.cloud_client_id == "edge-st_1"
    assert config.database.path == Path("/var/lib/store-edge/edge.db")
    assert config.control_socket_path == Path("/var/lib/store-edge/control.sock")
    assert config.pos.kind == "none"
    assert config.card_reader is None
    assert config.log.level == "info"
    printer = config.printers[0]
    assert (printer.width, printer.encoding, printer.roles, printer.brands) == (
        48,
        "cp1252",
        ["kitchen"],
        [],
    )
    assert (printer.copies, printer.backup, printer.cash_drawer) == (1, "", False)
    assert (printer.connect_timeout_s, printer.write_timeout_s, printer.status_interval_s) == (
        5,
        10,
        30,
    )


def test_cloud_defaults_and_resolved_accessors(tmp_path: Path) -> None:
    text = '[store]\nid = "st_1"\n[cloud]\nurl = "mqtts://broker.example"\n'
    text += '[database]\npath = "/srv/edge/db.sqlite"\n'
    config = load_config(write(tmp_path, text))

    assert config.cloud is not None
    assert (config.cloud.port, config.cloud.tls, config.cloud.topic_prefix) == (
        8883,
        True,
        "stores",
    )
    assert (config.cloud.keepalive_s, config.cloud.receive_maximum) == (30, 100)
    assert (config.cloud.backoff_initial_s, config.cloud.backoff_max_s) == (0.5, 30)
    assert (config.cloud.event_retention_h, config.cloud.event_retention_max) == (168, 100000)
    assert config.cloud_client_id == "edge-st_1"
    assert config.control_socket_path == Path("/srv/edge/control.sock")

    explicit = load_config(
        write(tmp_path, '[store]\nid = "s"\n[control]\nsocket = "/run/edge.sock"\n')
    )
    assert explicit.control_socket_path == Path("/run/edge.sock")


def test_two_printers_with_backup_load(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO_PRINTERS))

    assert [p.name for p in config.printers] == ["kitchen", "bar"]
    assert config.printers[0].backup == "bar"
    assert config.printers[1].scheme == "usb"


def test_issue_str_is_compiler_style() -> None:
    issue = ConfigIssue(
        "edge.toml", 12, "printers[0].width", "Input should be less than or equal to 64"
    )
    assert str(issue) == "edge.toml:12: printers[0].width: Input should be less than or equal to 64"
    assert str(ConfigIssue("edge.toml", None, "", "file not found")) == "edge.toml: file not found"


def test_unknown_key_in_store(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '[store]\nid = "s"\ntimezon = "UTC"\n')
    assert (issue.line, issue.key) == (3, "store.timezon")
    assert "did you mean 'timezone'" in issue.message


def test_unknown_key_in_second_printer(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, TWO_PRINTERS + 'colour = "red"\n')
    assert (issue.line, issue.key) == (13, "printers[1].colour")
    assert issue.message.startswith("unknown key")


def test_string_for_an_integer(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, TWO_PRINTERS.replace("width = 32", 'width = "48"'))
    assert (issue.line, issue.key) == (12, "printers[1].width")
    assert issue.message == "Input should be a valid integer, got string '48'"


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_PRINTERS.replace("width = 32", "width = 65"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(i) for i in caught.value.issues] == [
        f"{path}:12: printers[1].width: Input should be less than or equal to 64"
    ]


def test_bad_printer_uri_scheme(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, TWO_PRINTERS.replace("tcp://10.0.0.5", "http://10.0.0.5"))
    assert (issue.line, issue.key) == (6, "printers[0].uri")
    assert "unsupported scheme 'http://'" in issue.message


def test_bad_timezone(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '[store]\nid = "s"\ntimezone = "Europe/Pariss"\n')
    assert (issue.line, issue.key) == (3, "store.timezone")
    assert "unknown time zone 'Europe/Pariss'" in issue.message


def test_duplicate_printer_names(tmp_path: Path) -> None:
    issue = only_issue(
        tmp_path,
        TWO_PRINTERS.replace('name = "bar"', 'name = "kitchen"').replace('backup = "bar"\n', ""),
    )
    assert (issue.line, issue.key) == (9, "printers[1].name")
    assert issue.message == "duplicate printer name 'kitchen'"


def test_missing_store_id_points_at_the_table(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '# box\n\n[store]\nname = "x"\n')
    assert (issue.line, issue.key, issue.message) == (3, "store.id", "required key is missing")


def test_missing_store_table(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, "[orders]\nrelease_lead_min = 10\n")
    assert (issue.line, issue.key) == (None, "store")


def test_backup_to_unknown_printer(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, TWO_PRINTERS.replace('backup = "bar"', 'backup = "bra"'))
    assert (issue.line, issue.key) == (7, "printers[0].backup")
    assert "no printer named 'bra'" in issue.message


def test_printer_as_its_own_backup(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, TWO_PRINTERS.replace('backup = "bar"', 'backup = "kitchen"'))
    assert (issue.line, issue.key) == (7, "printers[0].backup")


def test_toml_syntax_error(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '[store]\nid = "s"\nname = "unterminated\n')
    assert (issue.line, issue.key) == (3, "")
    assert issue.message.startswith("TOML syntax error")


def test_several_errors_reported_together_in_line_order(tmp_path: Path) -> None:
    text = TWO_PRINTERS.replace('id = "st_1"', 'id = "st 1"\nlocale = "de"')
    text = text.replace('backup = "bar"', 'backup = "nope"').replace("width = 32", "width = 8")
    text += '[cloud]\nurl = "mqtt://broker"\ncert_file = "/etc/c.pem"\n'

    found = [(i.line, i.key) for i in issues_of(tmp_path, text)]

    assert found == [
        (2, "store.id"),
        (3, "store.locale"),
        (8, "printers[0].backup"),
        (13, "printers[1].width"),
        (16, "cloud.cert_file"),
    ]


def test_printers_given_as_a_table(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '[store]\nid = "s"\n[printers]\nname = "p"\n')
    assert (issue.line, issue.key) == (3, "printers")
    assert "[[printers]]" in issue.message


def test_lines_of_inline_tables_dotted_keys_and_multiline_strings(tmp_path: Path) -> None:
    text = (
        'store.id = "s"\n'
        'store.name = """\n[[printers]]\nwidth = 1 """\n'
        "printers = [\n"
        '  {name = "a", uri = "tcp://h"},\n'
        '  {name = "b", uri = "tcp://h", width = 99},\n'
        "]\n"
    )
    issue = only_issue(tmp_path, text)
    assert (issue.line, issue.key) == (7, "printers[1].width")


def test_cloud_cross_checks(tmp_path: Path) -> None:
    text = (
        '[store]\nid = "s"\n[cloud]\nurl = "mqtt://h"\nbackoff_initial_s = 10\nbackoff_max_s = 5\n'
    )
    issue = only_issue(tmp_path, text)
    assert (issue.line, issue.key) == (6, "cloud.backoff_max_s")


def test_missing_file(tmp_path: Path) -> None:
    issue = only_issue_of_path(tmp_path / "absent.toml")
    assert (issue.line, issue.key, issue.message) == (None, "", "file not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    issue = only_issue_of_path(tmp_path)
    assert issue.message.startswith("cannot read")


def only_issue_of_path(path: Path) -> ConfigIssue:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [issue] = caught.value.issues
    return issue


def test_model_keeps_cross_field_invariants_without_the_loader() -> None:
    printer = {"name": "p", "uri": "tcp://h"}
    with pytest.raises(ValidationError):
        Config.model_validate({"store": {"id": "s"}, "printers": [printer, printer]})


@pytest.fixture
def no_default_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Discovery sees an empty working directory and no system file."""
    system = tmp_path / "etc" / "edge.toml"
    monkeypatch.setattr(load_module, "SYSTEM_CONFIG_PATH", system)
    monkeypatch.delenv("EDGE_CONFIG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return system


def test_discovery_order(no_default_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = no_default_config
    assert find_config_path(None) == system  # nothing exists: the error names the system path

    Path("edge.toml").write_text("")
    assert find_config_path(None) == Path("edge.toml")

    system.parent.mkdir()
    system.write_text("")
    assert find_config_path(None) == system

    monkeypatch.setenv("EDGE_CONFIG", "/missing/from-env.toml")
    assert find_config_path(None) == Path("/missing/from-env.toml")

    assert find_config_path("/missing/explicit.toml") == Path("/missing/explicit.toml")


def test_read_secret_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")

    assert read_secret(str(secret), "mqtt-password") == "s3cret"
    assert read_secret("", "mqtt-password") is None


def test_read_secret_from_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mqtt-password").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    explicit = tmp_path / "explicit"
    explicit.write_text("from-file")

    assert read_secret("", "mqtt-password") == "from-systemd"
    assert read_secret(str(explicit), "mqtt-password") == "from-file"
    assert read_secret("", "pos-token") is None


def test_read_secret_configured_but_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_secret(str(tmp_path / "nope"), "mqtt-password")
    assert "cannot read secret mqtt-password" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "socket_path", "tls"),
    [
        ("mqtt://broker.local", "mqtt", "broker.local", 1883, None, False),
        ("mqtt://127.0.0.1:11883", "mqtt", "127.0.0.1", 11883, None, False),
        ("mqtts://broker.example.com", "mqtts", "broker.example.com", 8883, None, True),
        ("mqtts://[::1]:9883", "mqtts", "::1", 9883, None, True),
        (
            "unix:///run/mosquitto/mqtt.sock",
            "unix",
            None,
            None,
            Path("/run/mosquitto/mqtt.sock"),
            False,
        ),
    ],
)
def test_broker_url_parsing(
    url: str, scheme: str, host: str | None, port: int | None, socket_path: Path | None, tls: bool
) -> None:
    broker = parse_broker_url(url)
    assert (broker.scheme, broker.host, broker.port, broker.socket_path, broker.tls) == (
        scheme,
        host,
        port,
        socket_path,
        tls,
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://broker", "unsupported scheme"),
        ("broker:1883", "not a URI"),
        ("mqtt://", "missing host"),
        ("mqtt://broker:99999", "port should be"),
        ("mqtt://user:pw@broker", "credentials do not belong"),
        ("mqtt://broker/topic", "unexpected path"),
        ("unix://relative.sock", "absolute path"),
    ],
)
def test_bad_broker_urls(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_broker_url(url)


@pytest.mark.parametrize(
    "uri",
    [
        "tcp://192.168.1.50",
        "tcp://printer.local:9101",
        "usb://04b8:0202",
        "usb://04B8:0E15?serial=ABC123",
        "serial:///dev/ttyUSB0?baudrate=19200&flow=rtscts",
        "serial:///dev/ttyS0",
        "ble://AA:BB:CC:DD:EE:FF",
        "rfcomm://AA:BB:CC:DD:EE:FF",
        "rfcomm://AA:BB:CC:DD:EE:FF:2",
        "rfcomm://AA:BB:CC:DD:EE:FF?channel=3",
        "ble://AA:BB:CC:DD:EE:FF?service=18f0&char=2af1&chunk=20&gap_ms=20&connect=per_batch",
        "ble://aa:bb:cc:dd:ee:ff?service=49535343-fe7d-4ae5-8fa9-9fafd205e455",
        "cloudprnt://00:11:62:AA:BB:CC",
        "file:///tmp/tickets.bin",
    ],
)
def test_good_printer_uris(uri: str) -> None:
    assert check_printer_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "tcp://:9100",
        "tcp://host:0",
        "usb://epson",
        "usb://04b8:0202?model=x",
        "serial:///dev/ttyUSB0?flow=hardware",
        "serial:///dev/ttyUSB0?baudrate=fast",
        "serial://ttyUSB0",
        "ble://AA:BB:CC",
        "rfcomm://AA:BB:CC:DD:EE:FF:99",
        "rfcomm://AA:BB:CC:DD:EE:FF:2?channel=2",
        "rfcomm://AA:BB:CC:DD:EE:FF?channel=0",
        "ble://AA:BB:CC:DD:EE:FF?chunk=0",
        "ble://AA:BB:CC:DD:EE:FF?gap_ms=slow",
        "ble://AA:BB:CC:DD:EE:FF?service=printer",
        "ble://AA:BB:CC:DD:EE:FF?connect=always",
        "ble://AA:BB:CC:DD:EE:FF?colour=red",
        "cloudprnt://printer.local",
        "cloudprnt://00:11:62:AA:BB:CC/path",
        "file://relative/path",
        "lpt://1",
    ],
)
def test_bad_printer_uris(uri: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        check_printer_uri(uri)


def test_the_menu_table_of_the_contract_loads(tmp_path: Path) -> None:
    text = (
        '[store]\nid = "s"\n\n[menu]\nsync_interval_h = 6\n'
        'hide_labels = ["Hide from delivery", "Masquer"]\n\n'
        '[menu.brand_labels]\n"Pasta Nostra" = "Pasta"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.menu.sync_interval_h == 6
    assert config.menu.brand_labels == {"Pasta Nostra": "Pasta"}
    assert config.menu.links_days == 7
    assert load_config(write(tmp_path, '[store]\nid = "s"\n')).menu.hide_labels == [
        "Hide from delivery",
        "Masquer",
    ]


def test_menu_mistakes_name_their_line(tmp_path: Path) -> None:
    issue = only_issue(tmp_path, '[store]\nid = "s"\n[menu]\nsync_interval_h = 0\n')
    assert (issue.line, issue.key) == (4, "menu.sync_interval_h")
    issue = only_issue(tmp_path, '[store]\nid = "s"\n[menu]\nhide_label = ["x"]\n')
    assert (issue.line, issue.key) == (4, "menu.hide_label")
    assert "did you mean 'hide_labels'" in issue.message
