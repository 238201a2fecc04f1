"""MQTT transport: connect, subscribe, reconnect with backoff, resubscribe; hand raw messages on.

Knows nothing about LoRaWAN. The paho client is built by a factory so tests can
inject another. Messages are acknowledged only when the caller says so
(``ack``), i.e. after they are in the durable buffer, where the session allows it
(QoS 1, persistent session). The Things Stack's MQTT server speaks MQTT 3.1.1 and
publishes with QoS 0 only: there, acknowledging changes nothing (see docs).

The fast path (:class:`BufferedClient`, batched PUBACKs, :class:`_LeanProperties`) uses
paho 2.2's private internals. They are checked at start (presence and signatures,
:func:`fast_path_problem`); when they differ, the transport runs on plain paho and its
public ``ack`` with one warning: slower, same delivery (tests/integration/
test_paho_fallback.py). The MQTT 5 property swap lasts only while a transport runs.
Replacing paho was considered (#19) and not done: aiomqtt wraps paho (the same
internals); gmqtt and amqtt's client would first have to be proven on websockets, shared
subscriptions and a PUBACK sent only after the buffer commit.
"""

from __future__ import annotations

import inspect
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.models import RawMessage
from ingest.transport.diagnose import connack_message, diagnose, where
from lorawan_monitor.health import DependencyHealth, ServiceState
from lorawan_monitor.metrics import MQTT_CONNECTED
from lorawan_monitor.settings import MqttSettings

log = logging.getLogger(__name__)
_PUBACK = struct.Struct("!BBH")

ClientFactory = Callable[..., mqtt.Client]
_READ_CHUNK = 256 * 1024


class _ReadBuffered:
    """The client's socket, read in large chunks.

    paho reads every packet with three or more ``recv`` calls (type byte, length bytes,
    body) and waits in ``select`` before each packet. Here one ``recv`` takes whatever the
    kernel holds (up to 256 KiB, hundreds of uplinks) and paho's small reads are served
    from that; ``pending()`` (which paho asks of TLS and websocket sockets too) tells its
    loop that bytes are waiting, so it does not sleep in ``select`` while they are."""

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            # raises BlockingIOError / ssl.SSLWant*Error as the socket does; b"" at EOF
            buf = self._sock.recv(max(n, _READ_CHUNK))
            pos = 0
        end = min(pos + n, len(buf))
        self._buf, self._pos = buf, end
        return buf[pos:end]

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def send(self, data: bytes | bytearray) -> int:
        return int(self._sock.send(data))

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def close(self) -> None:
        self._buf, self._pos = b"", 0
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _LeanProperties(Properties):
    """paho's MQTT 5 ``Properties`` for the packets it receives, without its cost per message.

    paho 2.x builds a ``Properties`` for every MQTT 5 packet it decodes (each PUBLISH, and
    CONNACK, SUBACK, ... in ``paho.mqtt._packet``): the constructor
    rebuilds two lookup tables of 27 entries and ``unpack`` first "clears" the new object
    by probing all 27 names. Measured here (transport only, 60,000 queued QoS-1 messages):
    24 µs per message with MQTT 5 against 13.5 µs with 3.1.1. This subclass shares the
    tables (paho only reads them) and returns at once when the property length is 0, the
    case for every uplink seen so far; anything else goes through paho's own ``unpack``.
    Same attributes, same results, same errors."""

    _tables: ClassVar[tuple[Any, Any, Any] | None] = None

    def __init__(self, packetType: int) -> None:  # noqa: N803 (paho's name)
        tables = _LeanProperties._tables
        if tables is None:
            super().__init__(packetType)  # type: ignore[no-untyped-call]
            _LeanProperties._tables = (self.types, self.names, self.properties)
            return
        setattr_ = object.__setattr__
        setattr_(self, "packetType", packetType)
        setattr_(self, "types", tables[0])
        setattr_(self, "names", tables[1])
        setattr_(self, "properties", tables[2])

    def unpack(self, buffer: bytes | bytearray) -> tuple[Properties, int]:
        if buffer[:1] == b"\x00":  # property length 0: nothing to read, one byte used
            return self, 1
        return super().unpack(buffer)  # type: ignore[no-untyped-call,no-any-return]


_lean_lock = threading.Lock()
_lean_users = 0


def install_lean_publish_properties() -> bool:
    """Let paho decode received MQTT 5 properties with :class:`_LeanProperties`.

    Only where paho's layout is the one measured (:func:`lean_properties_problem` is
    None); otherwise nothing changes. The swap is process-wide (paho decodes packets in
    a module function), so it is counted: every True must be paired with
    :func:`release_lean_publish_properties`, and the last release puts paho's own class
    back. True when in place."""
    global _lean_users
    if lean_properties_problem() is not None:
        return False
    from paho.mqtt import _packet

    with _lean_lock:
        current = vars(_packet).get("Properties")
        if current is Properties:
            vars(_packet)["Properties"] = _LeanProperties
        elif current is not _LeanProperties:
            return False  # someone else's class: leave it alone
        _lean_users += 1
    return True


def release_lean_publish_properties() -> None:
    """Undo one :func:`install_lean_publish_properties`; the last one restores paho's class."""
    global _lean_users
    from paho.mqtt import _packet

    with _lean_lock:
        if _lean_users == 0:
            return
        _lean_users -= 1
        if _lean_users == 0 and vars(_packet).get("Properties") is _LeanProperties:
            vars(_packet)["Properties"] = Properties


# -- guard: the paho internals the fast path relies on -----------------------------------
#
# The fast path uses private parts of paho 2.2 (pinned in pyproject.toml). A paho release
# may change them without notice; then the transport uses plain paho and its public API
# (slower, same delivery) and says so once. Each entry: where, the parameter names
# expected, and names the code must (or must not) use.

_FAST_PATH_EXPECTED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("_create_socket", ("self",)),
    ("loop_read", ("self", "max_packets")),
    ("_sock_recv", ("self", "bufsize")),
    ("_packet_queue", ("self", "command", "packet", "mid", "qos", "info")),
)


def _params(obj: object) -> tuple[str, ...] | None:
    try:
        return tuple(inspect.signature(obj).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _code_names(obj: object) -> tuple[str, ...]:
    code = getattr(obj, "__code__", None)
    return tuple(code.co_names) if code is not None else ()


def fast_path_problem(client_cls: type[mqtt.Client] = mqtt.Client) -> str | None:
    """None when ``client_cls`` has the internals :class:`BufferedClient` and the batched
    PUBACKs were written against; otherwise what differs (for the one warning)."""
    for name, expected in _FAST_PATH_EXPECTED:
        attr = inspect.getattr_static(client_cls, name, None)
        if attr is None or not callable(attr):
            return f"paho.mqtt.client.Client.{name} is missing"
        got = _params(attr)
        if got != expected:
            return f"paho.mqtt.client.Client.{name}{got} is not {name}{expected}"
    # the socket paho reads from is self._sock, read only through its recv()
    if "_sock" not in _code_names(inspect.getattr_static(client_cls, "__init__")):
        return "paho.mqtt.client.Client no longer keeps its socket in _sock"
    reads = set(_code_names(inspect.getattr_static(client_cls, "_sock_recv")))
    if "recv" not in reads or reads & {"recv_into", "read", "recvmsg", "makefile"}:
        return "paho.mqtt.client.Client._sock_recv reads the socket differently"
    return None


def lean_properties_problem() -> str | None:
    """None when paho decodes MQTT 5 properties the way :class:`_LeanProperties` expects."""
    try:
        from paho.mqtt import _packet
    except ImportError:
        return "paho.mqtt._packet is missing"
    current = vars(_packet).get("Properties")
    if current is not Properties and current is not _LeanProperties:
        return "paho.mqtt._packet.Properties is not paho.mqtt.properties.Properties"
    if _params(Properties.__init__) != ("self", "packetType"):
        return "paho.mqtt.properties.Properties.__init__ has another signature"
    if _params(Properties.unpack) != ("self", "buffer"):
        return "paho.mqtt.properties.Properties.unpack has another signature"
    probe = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if not all(hasattr(probe, a) for a in ("packetType", "types", "names", "properties")):
        return "paho.mqtt.properties.Properties keeps its tables under other names"
    return None


_warned: set[str] = set()


_PLAIN = "uses plain paho and acknowledges one message at a time"
_NO_LEAN = "decodes MQTT 5 properties with paho's own code"


def _warn_once(what: str, consequence: str = _PLAIN) -> None:
    """One warning per process and kind: speed drops, delivery does not."""
    if consequence in _warned:
        return
    _warned.add(consequence)
    log.warning(
        "paho-mqtt %s differs from the tested version (%s): the MQTT transport %s "
        "(slower, nothing lost)",
        getattr(paho.mqtt, "__version__", "?"),
        what,
        consequence,
    )


class BufferedClient(mqtt.Client):
    """paho's client with a buffered read path (measured in docs/performance.md).

    Same protocol handling, callbacks and reconnects: only how bytes come off the socket
    changes. ``loop_read`` handles every complete packet already buffered instead of one
    per ``select``."""

    def _create_socket(self) -> Any:
        return _ReadBuffered(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        n = 0
        while (
            rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            and sock is not None
            and sock is self._sock
            and isinstance(sock, _ReadBuffered)
            and sock.pending() > 0
            and n < 10_000
        ):
            rc = super().loop_read(1)
            n += 1
        return rc


def _builds_buffered(factory: ClientFactory) -> bool:
    """Whether ``factory`` builds a :class:`BufferedClient` (the only kind whose internals
    were checked)."""
    return isinstance(factory, type) and issubclass(factory, BufferedClient)


def default_client_id() -> str:
    return f"lorawan-monitor-{socket.gethostname()}"


class Left(NamedTuple):
    """What leaving the share group did (a retired worker's drain, #20/#16)."""

    #: names of the sessions that could not be left (broker down, no UNSUBACK): they stay,
    #: and the drain is tried again at the next start
    failed: list[str]
    #: whether any session was left, so that what it queued is still coming
    draining: bool


class MqttTransport:
    def __init__(
        self,
        settings: MqttSettings,
        on_message: Callable[[RawMessage], None],
        *,
        client_factory: ClientFactory | None = None,
        on_connect: Callable[[bool], None] | None = None,
        subscribe: bool = True,
        state: ServiceState | None = None,
    ) -> None:
        """``client_factory`` None: :class:`BufferedClient` where paho's internals are the
        tested ones (:func:`fast_path_problem`), else plain paho with one warning.
        ``state``: the readiness state of the service this transport feeds (its own when
        None)."""
        self.settings = settings
        self.state = state if state is not None else ServiceState()
        #: False: resume the session without subscribing (draining a retired worker, #20)
        self._subscribe = subscribe
        self._on_message_cb = on_message
        #: called after every successful (re)connect with "this is a reconnect"
        self._on_connect_cb = on_connect
        self.v5 = settings.protocol_version() == 5
        problem = fast_path_problem()
        if client_factory is None:
            if problem is not None:
                _warn_once(problem)
            client_factory = mqtt.Client if problem is not None else BufferedClient
        #: batched PUBACKs through paho's out-queue: only on a client with the tested internals
        self.fast_acks = _builds_buffered(client_factory) and problem is None
        self._lean = False
        self.client = client_factory(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id or default_client_id(),
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else settings.session_expiry == 0,
            transport=settings.transport,
            manual_ack=settings.qos > 0,
        )
        c = self.client
        if settings.username:
            c.username_pw_set(
                settings.username,
                settings.password.get_secret_value() if settings.password else None,
            )
        if settings.tls:
            c.tls_set(
                ca_certs=str(settings.tls_ca_file) if settings.tls_ca_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            c.tls_insecure_set(settings.tls_insecure)
        c.reconnect_delay_set(
            max(1, round(settings.reconnect_min_delay)), max(1, round(settings.reconnect_max_delay))
        )
        c.max_inflight_messages_set(65535)
        c.max_queued_messages_set(0)
        c.connect_timeout = settings.connect_timeout
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_unsubscribe = self._on_unsubscribe
        self._unsubscribed = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._was_connected = False
        #: down once / back once, named settings (see lorawan_monitor.health)
        self.health = DependencyHealth("mqtt", log, self.state)
        self._watchdog: threading.Timer | None = None
        self._manual_ack = settings.qos > 0
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self.state.mqtt_enabled = True
        if self.v5 and not self._lean:
            self._lean = install_lean_publish_properties()
            if not self._lean:
                _warn_once(
                    lean_properties_problem() or "paho.mqtt._packet.Properties is replaced",
                    _NO_LEAN,
                )
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.settings.session_expiry
            props.ReceiveMaximum = 65535
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=self.settings.session_expiry == 0
            if self.v5
            else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.client.loop_start()
        # paho waits a whole keepalive for a CONNACK that never comes (a port that accepts
        # TCP but does not speak MQTT): say so after connect_timeout instead
        self._watchdog = threading.Timer(self.settings.connect_timeout * 1.5, self._check_stalled)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _check_stalled(self) -> None:
        if self.connected.is_set() or self._stopping or self.health.down_now:
            return
        stalled = self.settings.connect_timeout * 1.5
        self.health.down(diagnose(self.settings, self.settings.connect_timeout, stalled=stalled))

    def stop(self, *, expire_session: bool = False) -> None:
        """Disconnect. ``expire_session``: end the broker session too (MQTT 5: session expiry
        0 on DISCONNECT), so the broker keeps nothing queued for this client id (#20)."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        props = None
        if expire_session and self.v5:
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0
        try:
            self.client.disconnect(properties=props)
        finally:
            self.client.loop_stop()
            if self._lean:  # what start() patched is put back
                self._lean = False
                release_lean_publish_properties()
            self.connected.clear()
            self.state.mqtt_connected = False
            MQTT_CONNECTED.set(0)
            self.state.set_dependency_error("mqtt", None)  # stopped on purpose: no longer a problem

    def leave(self, topics: Sequence[str], timeout: float = 30.0) -> Left:
        """A retiring worker: wait for the connection (its session resumed) and unsubscribe
        ``topics``, so the broker routes nothing new to this session; what it queued still
        comes."""
        if not self.connected.wait(timeout):
            log.error("retire: not connected to the MQTT broker")
            return Left(["mqtt"], draining=False)
        if topics and not self.unsubscribe(topics):
            log.error("retire: the broker did not confirm the unsubscribe")
            return Left(["mqtt"], draining=False)
        return Left([], draining=True)

    def unsubscribe(self, topics: Sequence[str], timeout: float = 10.0) -> bool:
        """Leave ``topics`` (a retiring worker's shared subscription); True on UNSUBACK. The
        broker routes nothing new to this session afterwards; what it queued still comes."""
        self._unsubscribed.clear()
        rc, _mid = self.client.unsubscribe(list(topics))
        return rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._unsubscribed.wait(timeout)

    def _on_unsubscribe(self, *_args: Any) -> None:
        self._unsubscribed.set()

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return self.subscribed.wait(timeout)

    def ack(self, tokens: Sequence[Any]) -> None:
        """Acknowledge messages (paho mids) once they are durably buffered."""
        if not self._manual_ack:
            return
        pubacks = []
        for token in tokens:
            if token is None:
                continue
            mid, qos = token
            if qos == 1:
                pubacks.append(_PUBACK.pack(0x40, 2, mid))
            elif qos == 2:
                self.client.ack(mid, qos)
        if not pubacks:
            return
        if self.fast_acks:
            # One out-packet carrying all PUBACKs of the chunk: paho's ack() queues each one
            # separately, waking its network thread and writing the socket once per message.
            # The bytes are the same PUBACK packets ack() would send (MQTT 3.1.1 and 5).
            try:
                self.client._packet_queue(0x40, b"".join(pubacks), 0, 0)
                return
            except (AttributeError, TypeError, KeyError) as exc:  # paho changed under us
                self.fast_acks = False
                _warn_once(f"Client._packet_queue failed: {exc!r}")
        for token in tokens:  # the public API, one PUBACK at a time
            if token is not None and token[1] == 1:
                self.client.ack(token[0], 1)

    # -- paho callbacks ----------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            self.health.down(connack_message(self.settings, reason))
            return
        topics = self.settings.topic_filters() if self._subscribe else []
        if topics:
            client.subscribe([(t, int(self.settings.qos)) for t in topics])
        self.subscribed.set()
        self.connected.set()
        self.state.mqtt_connected = True
        MQTT_CONNECTED.set(1)
        session = bool(getattr(flags, "session_present", False))
        self.health.up(
            f"MQTT broker {where(self.settings)} reachable again "
            f"(session {'resumed' if session else 'new'})"
        )
        if not self._was_connected:
            log.info(
                "MQTT connected to %s:%s (session %s), subscribed to %s",
                self.settings.host,
                self.settings.port,
                "resumed" if session else "new",
                ", ".join(topics) or "nothing (draining the session)",
            )
        reconnect = self._was_connected
        self._was_connected = True
        if self._on_connect_cb is not None:
            self._on_connect_cb(reconnect)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self.state.mqtt_connected = False
        MQTT_CONNECTED.set(0)
        if self._stopping:
            log.info("MQTT disconnected from %s:%s", self.settings.host, self.settings.port)
        elif self.health.down_now:
            return  # this outage is already reported
        elif not self._was_connected:
            # the broker took the TCP connection and then closed it: find out why
            self.health.down(diagnose(self.settings, self.settings.connect_timeout))
        else:
            self.health.down(
                f"MQTT connection to {where(self.settings)} lost ({reason}); reconnecting with "
                "backoff — check that the broker runs (LORAWAN_MQTT__HOST / LORAWAN_MQTT__PORT)"
            )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """A connection attempt failed before MQTT (DNS, refused, TLS, timeout)."""
        if not self.health.down_now and not self._stopping:
            self.health.down(diagnose(self.settings, self.settings.connect_timeout))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_message_cb(
            RawMessage(
                topic=msg.topic,
                payload=bytes(msg.payload),
                received=time.time(),
                ack_token=(msg.mid, msg.qos) if msg.qos > 0 else None,
            )
        )
