"""Why the broker cannot be reached, in an operator's words (issue #14): the TLS
certificate case against a real mosquitto TLS listener, and a refused login."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from ingest.transport.diagnose import connack_message, diagnose
from lorawan_monitor.settings import MqttSettings
from tests.ingest.test_mqtt_transport import _tls_files
from tests.servers import free_port, running_mosquitto


@pytest.mark.integration
def test_an_untrusted_certificate_names_the_ca_setting(tmp_path: Path) -> None:
    port = free_port()
    with _tls_files(tmp_path) as (ca, crt, key):
        extra = f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\n"
        with running_mosquitto(extra_conf=extra):
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                assert time.monotonic() < deadline
                time.sleep(0.05)
            untrusted = MqttSettings(host="127.0.0.1", port=port, tls=True)  # no CA file
            msg = diagnose(untrusted, 3)
            assert "TLS certificate not accepted" in msg and "LORAWAN_MQTT__TLS_CA_FILE" in msg
            trusted = MqttSettings(host="127.0.0.1", port=port, tls=True, tls_ca_file=ca)
            assert "TLS works" in diagnose(trusted, 3)


def test_a_refused_login_names_the_credentials() -> None:
    s = MqttSettings(host="broker.example", port=1883)
    msg = connack_message(s, ReasonCode(PacketTypes.CONNACK, "Bad user name or password"))
    assert msg == (
        "MQTT broker broker.example:1883 refused the login: Bad user name or password — "
        "check LORAWAN_MQTT__USERNAME / LORAWAN_MQTT__PASSWORD"
    )
    msg = connack_message(s, ReasonCode(PacketTypes.CONNACK, "Client identifier not valid"))
    assert msg.endswith("check LORAWAN_MQTT__CLIENT_ID")
