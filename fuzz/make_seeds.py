#!/usr/bin/env python3
"""Writes the seed corpora, fuzz/corpus/<target>/seed-*, from the protocol's
own examples (PROTOCOL.md, the engine.io and socket.io protocol specs).

Run from anywhere: `python3 fuzz/make_seeds.py`. Each seed is encoded in the
input format of its target (see the doc comment at the top of each target).
"""

import json
import os
import re
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

OPEN = ('{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
        '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')
PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


# ----- engineio_packet: <selector> <frame> -----
# selector bit 0: v3; bit 1: binary frame.

def engineio_packet():
    write("engineio_packet", "open", b"\x00" + ("0" + OPEN).encode())
    write("engineio_packet", "ping-probe", b"\x00" + b"2probe")
    write("engineio_packet", "message", b"\x00" + "4hello €".encode())
    write("engineio_packet", "binary-v4", b"\x02" + bytes([1, 2, 3, 4]))
    write("engineio_packet", "base64-v3", b"\x01" + b"b4AQIDBA==")
    write("engineio_packet", "binary-v3", b"\x03" + bytes([4, 1, 2, 3, 4]))


# ----- engineio_payload: <selector> <body> -----
# selector % 4: 0 v4, 1 v3 text, 2 v3 binary, 3 JSONP form.

def engineio_payload():
    write("engineio_payload", "v4", b"\x00" + b"4hello\x1ebAQIDBA==")
    write("engineio_payload", "v4-open", b"\x00" + ("0" + OPEN + "\x1e6").encode())
    write("engineio_payload", "v3-text", b"\x01" + "6:4hello2:4€".encode())
    write("engineio_payload", "v3-base64", b"\x01" + b"10:b4AQIDBA==")
    # `0` text, length 6 as the digit byte 6, 0xFF, `4hello`; `1` binary,
    # length 5, 0xFF, type 4 then the data.
    write("engineio_payload", "v3-binary",
          b"\x02" + b"\x00\x06\xff4hello" + b"\x01\x05\xff" + bytes([4, 1, 2, 3, 4]))
    write("engineio_payload", "jsonp", b"\x03" + b"d=6%3A4hello2:40")


# ----- socketio_packet: <limits> then frames <kind> <len> <bytes> -----
# limits: bits 0-2 max attachments, bits 3-7 max binary bytes / 4.
# kind bit 0: binary; bit 1: reset the decoder first.

def frames(*items, limits=0xFB):
    out = bytearray([limits])
    for item in items:
        if isinstance(item, str):
            data, kind = item.encode(), 0
        else:
            data, kind = bytes(item), 1
        assert len(data) < 256
        out += bytes([kind, len(data)]) + data
    return bytes(out)


def socketio_packet():
    t = "socketio_packet"
    write(t, "connect", frames("0", '0/admin,{"token":"1"}'))
    write(t, "connect-reply", frames('0{"sid":"oSO0OpakMV_3jnilAAAA","pid":"abc"}'))
    write(t, "event", frames('2["hello","world"]', '2/chat,12["msg","hi",1.5]'))
    write(t, "binary-event", frames('51-["a",' + PH0 + "]", [1, 2, 3]))
    write(t, "binary-ack",
          frames('62-/admin,3[' + PH1 + "," + PH0 + "]", [1], [2, 3]))
    write(t, "connect-error",
          frames('4{"message":"not authorized","data":{"a":1}}',
                 '4/random,{"message":"Invalid namespace"}'))
    write(t, "text-while-waiting", frames('51-["a",' + PH0 + "]", "1", [9]))


# ----- roundtrip: `arbitrary` input -----
# Unstructured reads values from the front and lengths from the back; with
# inputs under 257 bytes a length is one byte. A derived enum reads a u32
# and picks variant (x * count) >> 32.

class Arb:
    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()

    def data(self):
        out = bytes(self.front) + bytes(reversed(self.back))
        assert len(out) <= 256, "too long for one-byte lengths"
        return out

    def u8(self, v):
        self.front.append(v)

    def bool(self, v):
        self.u8(1 if v else 0)

    def u32(self, v):
        self.front += struct.pack("<I", v)

    def u64(self, v):
        self.front += struct.pack("<Q", v)

    def i64(self, v):
        self.front += struct.pack("<q", v)

    def f64(self, v):
        self.front += struct.pack("<d", v)

    def variant(self, k, n):
        x = 0 if k == 0 else (k << 32) // n + 1
        assert (x * n) >> 32 == k
        self.u32(x)

    def string(self, s):
        b = s.encode()
        self.back.append(len(b))
        self.front += b

    def byte_vec(self, bs):
        for b in bs:
            self.bool(True)
            self.u8(b)
        self.bool(False)


# EioInput: Open, Close, Ping, Pong, Text, Binary, Upgrade, Noop.
def eio(a, kind, arg=None):
    k = ["Open", "Close", "Ping", "Pong", "Text", "Binary", "Upgrade", "Noop"].index(kind)
    a.bool(True)  # one more element
    a.variant(k, 8)
    if kind in ("Open", "Ping", "Pong", "Text"):
        a.string(arg)
    elif kind == "Binary":
        a.byte_vec(arg)


# Node: Null, Bool, Int, Uint, Float, String, Binary, Array, Object.
def node(a, value):
    if value is None:
        a.variant(0, 9)
    elif isinstance(value, bool):
        a.variant(1, 9)
        a.bool(value)
    elif isinstance(value, int):
        a.variant(3, 9)
        a.u64(value)
    elif isinstance(value, float):
        a.variant(4, 9)
        a.f64(value)
    elif isinstance(value, str):
        a.variant(5, 9)
        a.string(value)
    elif isinstance(value, bytes):
        a.variant(6, 9)
        a.byte_vec(value)
    elif isinstance(value, list):
        a.variant(7, 9)
        a.u8(len(value))
        for v in value:
            node(a, v)
    elif isinstance(value, dict):
        a.variant(8, 9)
        a.u8(len(value))
        for k, v in value.items():
            a.variant(0, 3)  # Key::Name
            a.string(k)
            node(a, v)


def nsp(a, name):
    if name == "/":
        a.bool(False)
    else:
        a.bool(True)
        a.string(name[1:])


# Kind: Connect(bool), Disconnect, Event(Option<u64>), Ack(Option<u64>),
# ConnectErrorNone, ConnectErrorMessage(String), ConnectErrorObject.
def sio_event(a, name_space, name, args, ack_id=None):
    nsp(a, name_space)
    a.variant(2, 7)
    a.bool(ack_id is not None)
    if ack_id is not None:
        a.u64(ack_id)
    a.variant(0, 3)  # Name::Text
    a.string(name)
    a.u8(len(args))
    for v in args:
        node(a, v)


def roundtrip():
    t = "roundtrip"
    a = Arb()
    eio(a, "Open", OPEN[:60])
    eio(a, "Ping", "probe")
    eio(a, "Text", "hello €")
    eio(a, "Binary", [1, 2, 3, 4])
    eio(a, "Noop")
    a.bool(False)
    write(t, "engineio-packets", a.data())

    a = Arb()
    a.bool(False)  # no Engine.IO packets
    sio_event(a, "/", "hello", ["world"])
    sio_event(a, "/chat", "msg", ["hi", 1.5], ack_id=12)
    write(t, "events", a.data())

    a = Arb()
    a.bool(False)
    sio_event(a, "/", "upload", [{"file": b"\x01\x02"}, b"\x03"])
    nsp(a, "/admin")
    a.variant(3, 7)  # Ack
    a.bool(True)
    a.u64(5)
    a.u8(1)
    node(a, b"\x04")
    write(t, "binary", a.data())

    a = Arb()
    a.bool(False)
    nsp(a, "/admin")
    a.variant(0, 7)  # Connect(true)
    a.bool(True)
    node(a, {"token": "1"})
    nsp(a, "/random")
    a.variant(5, 7)  # ConnectErrorMessage
    a.string("Invalid namespace")
    nsp(a, "/")
    a.variant(1, 7)  # Disconnect
    write(t, "connect", a.data())


# ----- engine: flags byte, then steps (see fuzz_targets/engine.rs) -----
# A POST's count byte is the number of messages minus one.

HANDSHAKE_POLLING, HANDSHAKE_WS, RAW, GET, POST, POST_RAW, OTHER, UPGRADE, \
    WS_MSG, WS_RAW, WS_FLUSH, WS_CLOSE, DROP, BODY, ADVANCE, ADVANCE_DEADLINE, \
    ACCEPT, REJECT, EMIT, SERVER_ACK, BROADCAST, JOIN, LEAVE, DISCONNECT, \
    SOCKETS_OP, ALLOW, SHUTDOWN = range(27)

# Client messages.
PING, PONG, UPGRADE_PKT, NOOP, CLOSE, CONNECT, SIO_DISCONNECT, EVENT, \
    BINARY, ACK, SIO_RAW, ENGINE_RAW, BINARY_RAW, BIG = range(14)
PROBE = 0x80


def connect(nsp_index=0):
    return [CONNECT, nsp_index, 0]


def recover(pid=0, offset=0):
    return [CONNECT, 0, 2, pid, offset]


def engine():
    t = "engine"
    # Polling: handshake, connect and an event in one POST, a long-poll,
    # an emit from the server, then time passes with pongs.
    write(t, "polling", bytes([
        0x00,
        HANDSHAKE_POLLING, 0,
        POST, 0, 0, 1, *connect(), EVENT, 0, 0x10, 7, 42,
        GET, 0, 0,
        EMIT, 0, 0, 1,
        ADVANCE, 30,
        POST, 0, 0, 0, PONG,
        GET, 0, 0,
        ADVANCE, 20,
    ]))
    # Upgrade: polling session, a held GET, the WebSocket probe, `2probe`,
    # `5`, then a connect over the WebSocket.
    write(t, "upgrade", bytes([
        0x00,
        HANDSHAKE_POLLING, 0,
        GET, 0, 0,
        UPGRADE, 0,
        WS_MSG, 0, PING | PROBE,
        ADVANCE, 15,
        WS_MSG, 0, UPGRADE_PKT,
        WS_MSG, 0, *connect(),
        EMIT, 0, 0, 3,
        ADVANCE, 40,
    ]))
    # WebSocket with binary: a binary event with one attachment, an emit
    # with ack answered with a binary ack.
    write(t, "binary", bytes([
        0x00,
        HANDSHAKE_WS, 0,
        WS_MSG, 0, *connect(),
        WS_MSG, 0, BINARY, 0, 1 + (1 << 3), 3,
        EMIT, 0, 0x04 | 0x08, 100,
        WS_MSG, 0, BINARY, 0, 0x80 | 1 + (1 << 3), 0, 2,
        EMIT, 0, 1, 9,
    ]))
    # Heartbeat timeout: a connected WebSocket client that never answers
    # the ping.
    write(t, "ping-timeout", bytes([
        0x00,
        HANDSHAKE_WS, 0,
        WS_MSG, 0, *connect(),
        ADVANCE, 60,
    ]))
    # Recovery: connect, receive an event (its offset is remembered), lose
    # the WebSocket, miss one event, reconnect with pid and offset.
    write(t, "recovery", bytes([
        0x00,
        HANDSHAKE_WS, 0,
        WS_MSG, 0, *connect(),
        EMIT, 0, 0, 1,
        BROADCAST, 0, 0, 0, 2,
        WS_CLOSE, 0, 0,
        BROADCAST, 0, 0, 0, 3,
        HANDSHAKE_WS, 0,
        WS_MSG, 0, *recover(),
        ADVANCE, 10,
    ]))
    # v3 (allowEIO3) polling with base64 and middlewares: the client pings,
    # the application accepts by hand.
    write(t, "v3-polling", bytes([
        0x01 | 0x02 | 0x40,
        HANDSHAKE_POLLING, 0x01 | 0x02,
        POST, 0, 0, 1, PING, *connect(1),
        ACCEPT, 0,
        ACCEPT, 0,
        GET, 0, 0,
        ADVANCE, 30,
    ]))
    # A client that does not read: flushes withheld, emits pile up.
    write(t, "send-buffer-full", bytes([
        0x80,
        HANDSHAKE_WS, 0,
        WS_MSG, 0, *connect(),
        *([EMIT, 0, 2, 200] * 6),
        WS_FLUSH, 0,
    ]))


# ----- msgpack_packet: <limits a> <limits b> <message> -----
# Every message of the msgpack test vectors (produced by the npm packages,
# socketio-proto/tests/msgpack_vectors.json), under roomy limits (depth 32,
# 7 binary values, 1020 binary bytes).
def msgpack_packet():
    path = os.path.join(os.path.dirname(ROOT), "..", "socketio-proto", "tests",
                        "msgpack_vectors.json")
    with open(path) as f:
        vectors = json.load(f)
    for case in vectors["encode"] + vectors["decode"]:
        name = re.sub(r"[^a-z0-9]+", "-", case["name"].lower()).strip("-")
        kind = "server" if case in vectors["encode"] else "client"
        write("msgpack_packet", f"{kind}-{name}", b"\xff\xff" + bytes.fromhex(case["hex"]))


# ----- ws_frames: <selector> <bytes a client sent> -----
# selector: low 4 bits x 16 = the message limit, high 4 bits + 1 = the
# size of the pieces the bytes are fed in.

def client_frame(b0, payload, key=b"\x11\x22\x33\x44"):
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, 0x80 | 127]) + struct.pack(">Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_frames():
    write("ws_frames", "text", b"\x2f" + client_frame(0x81, b'42["echo","hi"]'))
    write("ws_frames", "fragments", b"\x1f" + client_frame(0x01, b"4he")
          + client_frame(0x89, b"p") + client_frame(0x00, b"ll")
          + client_frame(0x8a, b"") + client_frame(0x80, b"o"))
    write("ws_frames", "binary-16bit", b"\x3f" + client_frame(0x82, bytes(range(130))))
    write("ws_frames", "close", b"\x05" + client_frame(0x88, struct.pack(">H", 1000) + b"bye"))
    write("ws_frames", "too-big", b"\x01" + client_frame(0x82, bytes(40)))
    write("ws_frames", "unmasked", b"\x0f" + b"\x81\x024x")


if __name__ == "__main__":
    engineio_packet()
    engineio_payload()
    socketio_packet()
    roundtrip()
    engine()
    msgpack_packet()
    ws_frames()
