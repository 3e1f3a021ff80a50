"""WebSocket gateway (/ws) specifics and the small HTTP surface."""
import json
import socket
import struct
import time

import pytest

import petrelproto as pp
from conftest import SLOW


def login_frame(srv, user="alice", **kw):
    return pp.encode_up(pp.LOGIN, {"userId": user, "userSign": srv.token(user)}, **kw)


def read_until_close(w, timeout=None):
    """Frames up to and including the server's close frame (then TCP EOF is
    required).  Returns (data_frames, close_frame)."""
    frames = []
    while True:
        try:
            f = w.recv_ws_frame(timeout)
        except pp.ConnectionClosed as e:
            raise AssertionError("TCP closed (%s) without a close frame; frames: %r"
                                 % (e, frames))
        except TimeoutError:
            raise AssertionError("no close frame from the server; frames: %r" % frames)
        if f[2] == pp.OP_CLOSE:
            w.wait_tcp_eof(timeout)
            return frames, f
        frames.append(f)


def close_code(f):
    return struct.unpack("!H", f[4][:2])[0] if len(f[4]) >= 2 else None


@pytest.mark.parametrize("logged_in", [False, True])
def test_text_frame_closes_1003(srv, bystander, logged_in):
    w = srv.login("alice", transport="ws") if logged_in else srv.ws()
    w.send_text('{"userId":"alice"}')
    frames, cf = read_until_close(w)
    assert close_code(cf) == 1003, "close frame %r, expected status 1003" % (cf,)
    # an error packet is optional; if sent it must be a binary 61012
    for f in frames:
        assert f[2] == pp.OP_BINARY, "unexpected frame before close: %r" % (f,)
        p, n = pp.decode_down(f[4])
        assert p and p.command == pp.ERROR and p.code == pp.E_TEXT_FRAME, p
    bystander.check()


def test_fragmented_login(srv):
    w = srv.ws()
    fr = login_frame(srv, client_type=pp.CT_WEB, imei="frag")
    w.send_ws_frame(pp.OP_BINARY, fr[:10], fin=False)
    w.send_ws_frame(pp.OP_CONT, fr[10:40], fin=False)
    w.send_ws_frame(pp.OP_CONT, fr[40:], fin=True)
    ack = w.recv()
    assert ack.command == pp.LOGINACK and ack.data["imei"] == "frag", ack
    # a fragmented ping, one byte per fragment
    f = pp.encode_up(pp.PING, {})
    w.send_ws_frame(pp.OP_BINARY, f[:1], fin=False)
    for i in range(1, len(f) - 1):
        w.send_ws_frame(pp.OP_CONT, f[i:i + 1], fin=False)
    w.send_ws_frame(pp.OP_CONT, f[-1:], fin=True)
    assert w.recv().command == pp.PING


def test_fragmented_login_with_interleaved_ping(srv):
    """RFC 6455 5.4: control frames may be injected between fragments."""
    w = srv.ws(auto_pong=False)
    fr = login_frame(srv)
    w.send_ws_frame(pp.OP_BINARY, fr[:20], fin=False)
    w.send_ping(b"mid")
    w.send_ws_frame(pp.OP_CONT, fr[20:], fin=True)
    f = w.recv_ws_frame()
    assert f[2] == pp.OP_PONG and f[4] == b"mid", f
    ack = w.recv()
    assert ack.command == pp.LOGINACK, ack


@pytest.mark.parametrize("payload", [b"", b"hello-123", bytes(range(125))])
def test_ws_ping_pong(srv, payload):
    w = srv.ws()
    w.send_ping(payload)
    f = w.recv_ws_frame()
    assert f[0] and f[2] == pp.OP_PONG and f[4] == payload, f
    # and after login as well
    assert w.login("alice", srv.token("alice")).command == pp.LOGINACK
    w.send_ping(payload)
    f = w.recv_ws_frame()
    assert f[2] == pp.OP_PONG and f[4] == payload, f


@pytest.mark.parametrize("logged_in", [False, True])
def test_ws_close_handshake(srv, logged_in):
    w = srv.login("alice", transport="ws") if logged_in else srv.ws()
    w.send_close(1000, b"bye")
    frames, cf = read_until_close(w)
    assert not frames, frames
    assert close_code(cf) in (None, 1000), cf


def test_ws_close_releases_session(srv):
    w = srv.login("alice", transport="ws", client_type=pp.CT_IOS, imei="i")
    w.send_close(1000)
    read_until_close(w)
    t = srv.login("alice", client_type=pp.CT_ANDROID, imei="a")
    time.sleep(0.1)
    assert t.ping().command == pp.PING


@pytest.mark.parametrize("case", ["two-frames", "truncated", "short-header", "trailing-byte"])
def test_ws_message_not_exactly_one_frame(srv, bystander, case):
    w = srv.login("alice", transport="ws")
    ping = pp.encode_up(pp.PING, {})
    msg = {"two-frames": ping + ping,
           "truncated": ping[:-1],
           "short-header": ping[:20],
           "trailing-byte": ping + b"x"}[case]
    w.send_binary(msg)
    w.expect_error(pp.E_BAD_HEADER, closes=True)
    bystander.check()


def test_ws_large_message_64bit_length(srv):
    """A 65536-byte body makes a >64 KiB WS message (64-bit length form)."""
    w = srv.login("alice", transport="ws")
    body = b'{"pad":"' + b"x" * (65536 - 10) + b'"}'
    w.send_binary(pp.encode_up(pp.PING, body))
    assert w.recv().command == pp.PING


def test_ws_oversize_body(srv, bystander):
    w = srv.login("alice", transport="ws")
    body = b'{"pad":"' + b"x" * (65537 - 10) + b'"}'
    w.send_binary(pp.encode_up(pp.PING, body))
    w.expect_error(pp.E_BODY_TOO_LARGE, closes=True)
    bystander.check()


def test_ws_unmasked_client_frame_closes(srv, bystander):
    """RFC 6455 5.1: a server MUST close the connection on an unmasked frame."""
    w = srv.ws()
    w.send_ws_frame(pp.OP_BINARY, login_frame(srv), mask=False)
    deadline = time.monotonic() + 5 * SLOW
    got = []
    while True:
        try:
            f = w.recv_ws_frame(max(0.01, deadline - time.monotonic()))
        except pp.ConnectionClosed:
            break
        except TimeoutError:
            raise AssertionError("connection still open after an unmasked frame: %r" % got)
        got.append(f)
        if f[2] == pp.OP_BINARY:
            p, _ = pp.decode_down(f[4])
            assert p is None or p.command != pp.LOGINACK, "unmasked LOGIN was accepted"
        if f[2] == pp.OP_CLOSE:
            w.wait_tcp_eof()
            break
    bystander.check()


def test_ws_pre_login_error_then_close(srv):
    w = srv.ws()
    w.send(1103, {"fromId": "x"})
    w.expect_error(pp.E_NOT_LOGGED_IN, closes=True, command=1103)


# The server keeps a wslay context only while a frame, a fragmented message
# or a close is under way, and frees it when a read ends between messages.
# These send the pieces in separate reads (with pauses), after the
# connection went quiet, so every piece meets a context made afresh or one
# kept across reads.
PAUSE = 0.05


def ws_login(srv, user="alice"):
    """A logged-in WebSocket client that leaves pongs to the test."""
    w = srv.ws(auto_pong=False)
    assert w.login(user, srv.token(user)).command == pp.LOGINACK
    return w


def send_pieces(w, data, cuts):
    """data in separate writes, cut at the given offsets, pausing between."""
    prev = 0
    for cut in list(cuts) + [len(data)]:
        w.send_raw(data[prev:cut])
        prev = cut
        time.sleep(PAUSE)


def test_ws_fragments_in_separate_reads_after_idle(srv):
    w = ws_login(srv)
    time.sleep(0.2)
    f = pp.encode_up(pp.PING, {"k": "v" * 300})
    w.send_ws_frame(pp.OP_BINARY, f[:5], fin=False)
    time.sleep(PAUSE)
    w.send_ping(b"between")
    pong = w.recv_ws_frame()
    assert pong[2] == pp.OP_PONG and pong[4] == b"between", pong
    time.sleep(PAUSE)
    # a continuation cut inside its header and inside its payload
    send_pieces(w, pp.ws_frame(pp.OP_CONT, f[5:200], fin=False), [1, 3, 6, 50])
    w.send_ws_frame(pp.OP_CONT, b"", fin=False)
    time.sleep(PAUSE)
    send_pieces(w, pp.ws_frame(pp.OP_CONT, f[200:], fin=True), [2, 8])
    assert w.recv().command == pp.PING
    # and the next message on the same connection is unharmed
    assert w.ping().command == pp.PING


@pytest.mark.parametrize("size", [10, 300, 65526])
def test_ws_frame_one_byte_of_header_per_read(srv, size):
    """7-, 16- and 64-bit length forms, the header one byte per read."""
    w = srv.login("alice", transport="ws")
    time.sleep(0.1)
    body = b'{"pad":"' + b"x" * size + b'"}' if size > 10 else {}  # 65536: the largest
    fr = pp.ws_frame(pp.OP_BINARY, pp.encode_up(pp.PING, body))
    hl = 2 + {126: 2, 127: 8}.get(fr[1] & 0x7f, 0) + 4
    send_pieces(w, fr, list(range(1, hl + 1)) + [hl + 7])
    assert w.recv().command == pp.PING


def test_ws_ping_after_idle(srv):
    w = ws_login(srv)
    for payload in (b"one", b"", b"three"):
        time.sleep(0.15)
        w.send_ping(payload)
        f = w.recv_ws_frame()
        assert f[2] == pp.OP_PONG and f[4] == payload, f
    assert w.ping().command == pp.PING


def test_ws_many_messages_in_one_read(srv):
    w = ws_login(srv)
    n = 200
    data = b"".join(pp.ws_frame(pp.OP_BINARY, pp.encode_up(pp.PING, {"i": i}))
                    for i in range(n))
    w.send_raw(data + pp.ws_frame(pp.OP_PING, b"last"))
    got = 0
    pong = None
    while got < n or pong is None:
        f = w.recv_ws_frame()
        if f[2] == pp.OP_PONG:
            assert pong is None and f[4] == b"last", f
            pong = f
            continue
        p, _ = pp.decode_down(f[4])
        assert p.command == pp.PING, p
        got += 1


def test_ws_oversized_fragmented_message_closes_1009(srv, bystander):
    """Fragments whose total passes the largest possible packet, in
    separate reads: the context that counts them must survive between."""
    w = srv.login("alice", transport="ws")
    piece = b"x" * 40000
    w.send_ws_frame(pp.OP_BINARY, piece, fin=False)
    time.sleep(PAUSE)
    w.send_ws_frame(pp.OP_CONT, piece, fin=False)
    time.sleep(PAUSE)
    try:
        w.send_ws_frame(pp.OP_CONT, piece, fin=True)
    except (BrokenPipeError, ConnectionResetError):
        pass
    frames, cf = read_until_close(w)
    assert close_code(cf) == 1009, cf
    assert not frames, frames
    bystander.check()


def test_ws_close_in_pieces_after_idle(srv):
    w = srv.login("alice", transport="ws")
    time.sleep(0.1)
    send_pieces(w, pp.ws_frame(pp.OP_CLOSE, struct.pack("!H", 1000) + b"bye"), [1, 4])
    w.close_sent = True
    frames, cf = read_until_close(w)
    assert not frames, frames
    assert close_code(cf) in (None, 1000), cf


def test_ws_error_packet_precedes_close_after_idle(srv):
    """A refused message on a quiet connection: the error packet, then the
    close frame, then nothing."""
    w = srv.login("alice", transport="ws")
    time.sleep(0.1)
    ping = pp.encode_up(pp.PING, {})
    w.send_binary(ping + ping)
    frames, cf = read_until_close(w)
    assert close_code(cf) == 1008, cf
    assert len(frames) == 1, frames
    p, _ = pp.decode_down(frames[0][4])
    assert p.command == pp.ERROR and p.code == pp.E_BAD_HEADER, p


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ws_random_fragmentation_and_cuts(srv, seed):
    """Messages fragmented at random, pings between fragments, the byte
    stream cut at random places, some pieces after a pause: every packet
    is answered, in order, and every ping ponged."""
    import random
    rnd = random.Random(seed)
    w = ws_login(srv)
    stream = b""
    n = 30
    pings = 0
    for i in range(n):
        pkt = pp.encode_up(pp.PING, {"i": i, "pad": "p" * rnd.choice([0, 5, 200, 3000])})
        cuts = sorted(rnd.sample(range(1, len(pkt)), rnd.randint(0, 3)))
        parts = [pkt[a:b] for a, b in zip([0] + cuts, cuts + [len(pkt)])]
        for j, part in enumerate(parts):
            op = pp.OP_BINARY if j == 0 else pp.OP_CONT
            stream += pp.ws_frame(op, part, fin=j == len(parts) - 1)
            if rnd.random() < 0.3:
                stream += pp.ws_frame(pp.OP_PING, b"p%d" % pings)
                pings += 1
    cuts = sorted(rnd.sample(range(1, len(stream)), 60))
    prev = 0
    for cut in cuts + [len(stream)]:
        w.send_raw(stream[prev:cut])
        prev = cut
        if rnd.random() < 0.2:
            time.sleep(0.02)
    got, pongs = [], []
    while len(got) < n or len(pongs) < pings:
        f = w.recv_ws_frame()
        if f[2] == pp.OP_PONG:
            pongs.append(f[4])
            continue
        p, _ = pp.decode_down(f[4])
        assert p.command == pp.PING, p
        got.append(p)
    assert pongs == [b"p%d" % k for k in range(pings)]
    assert len(got) == n


@pytest.mark.parametrize("seed", range(4))
def test_ws_hostile_frames(srv, bystander, seed):
    """Random header bits, lengths and opcodes in pieces: the server ends
    the connection or answers, and stays up for everyone else."""
    import random
    rnd = random.Random(seed)
    w = ws_login(srv)
    data = b""
    for _ in range(20):
        op = rnd.choice([0, 1, 2, 3, 8, 9, 10, 11, 15])
        payload = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 1, 125, 126, 300])))
        fr = bytearray(pp.ws_frame(op, payload, fin=rnd.random() < 0.7,
                                   rsv=rnd.choice([0, 0, 0, 1])))
        if rnd.random() < 0.2:
            fr[rnd.randrange(len(fr))] = rnd.getrandbits(8)
        data += fr
    prev = 0
    for cut in sorted(rnd.sample(range(1, len(data)), 10)) + [len(data)]:
        try:
            w.send_raw(data[prev:cut])
        except OSError:
            break
        prev = cut
        time.sleep(0.01)
    deadline = time.monotonic() + 2 * SLOW
    while time.monotonic() < deadline:
        try:
            w.recv_ws_frame(0.2)
        except (pp.ConnectionClosed, TimeoutError):
            break
    bystander.check()

# ------------------------------------------------------------------ HTTP
def test_healthz(srv):
    st, hdrs, body = pp.http_get(srv.http_port, "/healthz")
    assert st == 200, (st, body)
    doc = json.loads(body)
    assert isinstance(doc, dict) and doc.get("code") == 200, doc


def test_unknown_path_404(srv):
    st, _, body = pp.http_get(srv.http_port, "/definitely/not/here")
    assert st == 404, (st, body)


def test_ws_without_upgrade_400(srv):
    st, _, body = pp.http_get(srv.http_port, "/ws")
    assert st == 400, (st, body)


def test_ws_bad_key_refused(srv):
    """Upgrade without Sec-WebSocket-Key must not be switched to 101."""
    st, _, _ = pp.http_get(srv.http_port, "/ws", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"})
    assert st != 101 and 400 <= st < 500, st


def test_http_garbage_request(srv, bystander):
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=5 * SLOW)
    s.sendall(b"\x16\x03\x01\x02\x00GARBAGE \x00\xff\r\n\r\n")
    data = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
    except socket.timeout:
        raise AssertionError("garbage HTTP request: connection left open, got %r" % data)
    except ConnectionResetError:
        pass
    s.close()
    assert data == b"" or data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.0 4"), data
    st, _, _ = pp.http_get(srv.http_port, "/healthz")
    assert st == 200
    bystander.check()
