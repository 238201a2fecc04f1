"""Say in an operator's words why the MQTT broker cannot be reached, and what to check.

paho reports a failed connection attempt without its cause (``on_connect_fail`` gets no
exception), so after the first failure we probe the address ourselves, step by step as a
connection is built: name lookup, TCP, TLS handshake. Each step that fails gives one
message naming the ``LORAWAN_MQTT__*`` settings to check. Only loopback-safe standard
library calls; it runs once per outage, never per retry.
"""

from __future__ import annotations

import socket
import ssl

from lorawan_monitor.settings import MqttSettings

_HOST_PORT = "check LORAWAN_MQTT__HOST / LORAWAN_MQTT__PORT"
_TLS_PORT = (
    "is this a TLS port? (MQTT is usually 1883 plain, 8883 TLS) — "
    "check LORAWAN_MQTT__TLS / LORAWAN_MQTT__PORT"
)


def where(settings: MqttSettings) -> str:
    return f"{settings.host}:{settings.port}"


def diagnose(settings: MqttSettings, timeout: float = 5.0, *, stalled: float = 0.0) -> str:
    """One line: what failed on the way to the broker and which settings to check.

    ``stalled``: the connection has hung that many seconds without an answer (no CONNACK),
    rather than failed."""
    at = where(settings)
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return (
            f"MQTT broker host {settings.host!r} not found ({exc.strerror}) — "
            "check LORAWAN_MQTT__HOST"
        )
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(addr)
        except ConnectionRefusedError:
            return f"MQTT broker {at} refused the connection (nothing listens there) — {_HOST_PORT}"
        except TimeoutError:
            return (
                f"MQTT broker {at} did not answer within {timeout:g} s — {_HOST_PORT} (firewall?)"
            )
        except OSError as exc:
            return f"MQTT broker {at} unreachable ({exc.strerror or exc}) — {_HOST_PORT}"
        if settings.tls:
            return _tls(settings, sock, timeout, stalled)
    finally:
        sock.close()
    if stalled:
        return (
            f"MQTT broker {at} accepted the connection but sent no MQTT answer within "
            f"{stalled:g} s — is this an MQTT port? A TLS port needs LORAWAN_MQTT__TLS=true; "
            "check LORAWAN_MQTT__PORT / LORAWAN_MQTT__TLS"
        )
    return (
        f"MQTT broker {at} accepts TCP connections but the MQTT connection failed — "
        "a TLS port needs LORAWAN_MQTT__TLS=true; check LORAWAN_MQTT__PORT / LORAWAN_MQTT__TLS"
        + (" / LORAWAN_MQTT__TRANSPORT" if settings.transport == "tcp" else "")
    )


def _tls(settings: MqttSettings, sock: socket.socket, timeout: float, stalled: float) -> str:
    at = where(settings)
    ctx = ssl.create_default_context(
        cafile=str(settings.tls_ca_file) if settings.tls_ca_file else None
    )
    if settings.tls_insecure:
        ctx.check_hostname = False
    try:
        with ctx.wrap_socket(sock, server_hostname=settings.host) as tls:
            tls.settimeout(timeout)
    except ssl.SSLCertVerificationError as exc:
        return (
            f"MQTT broker {at}: TLS certificate not accepted ({exc.verify_message}) — "
            "check LORAWAN_MQTT__TLS_CA_FILE and LORAWAN_MQTT__HOST (the name in the certificate)"
        )
    except TimeoutError:
        return f"MQTT broker {at}: no TLS handshake within {timeout:g} s — {_TLS_PORT}"
    except (ssl.SSLError, OSError) as exc:
        return f"MQTT broker {at}: TLS handshake failed ({_short(exc)}) — {_TLS_PORT}"
    if stalled:
        return (
            f"MQTT broker {at}: TLS works but no MQTT answer within {stalled:g} s — "
            "check LORAWAN_MQTT__PORT / LORAWAN_MQTT__TRANSPORT"
        )
    return (
        f"MQTT broker {at}: TLS works but the MQTT connection failed — "
        "check LORAWAN_MQTT__PORT / LORAWAN_MQTT__TRANSPORT"
    )


def _short(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return type(exc).__name__ if not str(exc) else str(exc)


def connack_message(settings: MqttSettings, reason: object) -> str:
    """The broker answered CONNECT with a failure code: credentials, client id, or policy."""
    text = str(reason)
    hint = "check LORAWAN_MQTT__USERNAME / LORAWAN_MQTT__PASSWORD"
    low = text.lower()
    if "identifier" in low or "client" in low:
        hint = "check LORAWAN_MQTT__CLIENT_ID"
    elif "protocol" in low or "version" in low:
        hint = "check LORAWAN_MQTT__PROTOCOL"
    return f"MQTT broker {where(settings)} refused the login: {text} — {hint}"
