"""Framing and protocol errors on the binary TCP gateway (and a few on WS).

Every malformed-input test also checks that a bystander (a separate,
already logged-in client) is unaffected and that a new login still works."""
import random
import struct
import time

import pytest

import petrelproto as pp
from conftest import SLOW


def login_frame(srv, user="alice", **kw):
    return pp.encode_up(pp.LOGIN, {"userId": user, "userSign": srv.token(user)}, **kw)


# ----------------------------------------------------------- errors that keep
@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_spoofed_from_id(srv, transport):
    c = srv.login("alice", transport=transport)
    c.send(pp.MSG_P2P, {"fromId": "mallory", "toId": "bob", "messageKey": 1,
                        "messageBody": "hi", "messageTime": int(time.time() * 1000)})
    c.expect_error(pp.E_FROM_MISMATCH, closes=False, command=pp.MSG_P2P)


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_unknown_command(srv, transport):
    c = srv.login("alice", transport=transport)
    c.send(1234, {})
    c.expect_error(pp.E_UNKNOWN_CMD, closes=False, command=1234)
    # and again: the connection keeps working after repeated errors
    c.send(1234, {"x": 1})
    c.expect_error(pp.E_UNKNOWN_CMD, closes=False, command=1234)


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_double_login(srv, transport):
    c = srv.login("alice", transport=transport, client_type=pp.CT_IOS, imei="i1")
    c.send(pp.LOGIN, {"userId": "alice", "userSign": srv.token("alice")},
           client_type=pp.CT_IOS, imei="i1")
    c.expect_error(pp.E_ALREADY_LOGGED, closes=False, command=pp.LOGIN)
    # identity cannot be switched either
    c.send(pp.LOGIN, {"userId": "bob", "userSign": srv.token("bob")},
           client_type=pp.CT_IOS, imei="i2")
    c.expect_error(pp.E_ALREADY_LOGGED, closes=False, command=pp.LOGIN)
    c.send(pp.MSG_P2P, {"fromId": "bob", "toId": "carol", "messageBody": "x"})
    c.expect_error(pp.E_FROM_MISMATCH, closes=False, command=pp.MSG_P2P)


# ------------------------------------------------------------- stream framing
def test_frame_split_byte_by_byte(srv):
    c = srv.tcp()
    c.send_slowly(login_frame(srv, client_type=pp.CT_IOS, imei="slow"), chunk=1, delay=0.001)
    ack = c.recv()
    assert ack.command == pp.LOGINACK and ack.data["imei"] == "slow", ack
    # two pings in odd-sized pieces, boundaries crossing the frames
    data = pp.encode_up(pp.PING, {}) + pp.encode_up(pp.PING, {"k": "v"})
    c.send_slowly(data, chunk=7, delay=0.01)
    assert c.recv().command == pp.PING
    assert c.recv().command == pp.PING


def test_header_split_with_pause(srv):
    c = srv.login("alice")
    f = pp.encode_up(pp.PING, {})
    c.send_raw(f[:13])
    time.sleep(0.3)
    c.send_raw(f[13:29])
    time.sleep(0.3)
    c.send_raw(f[29:])
    assert c.recv().command == pp.PING


def test_frames_coalesced(srv):
    c = srv.tcp()
    c.send_raw(login_frame(srv) + pp.encode_up(pp.PING, {}) + pp.encode_up(pp.PING, {}))
    cmds = [c.recv().command for _ in range(3)]
    assert cmds == [pp.LOGINACK, pp.PING, pp.PING], cmds


def test_coalesced_with_error_in_the_middle(srv):
    c = srv.tcp()
    c.send_raw(login_frame(srv) + pp.encode_up(1234, {}) + pp.encode_up(pp.PING, {}))
    p1, p2, p3 = c.recv(), c.recv(), c.recv()
    assert p1.command == pp.LOGINACK, p1
    assert p2.command == pp.ERROR and p2.code == pp.E_UNKNOWN_CMD, p2
    assert p3.command == pp.PING, p3


def test_frame_and_a_half(srv):
    c = srv.tcp()
    data = login_frame(srv) + pp.encode_up(pp.PING, {})
    c.send_raw(data[:-5])
    ack = c.recv()
    assert ack.command == pp.LOGINACK, ack
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.3)        # half a ping must not be answered
    c.send_raw(data[-5:])
    assert c.recv().command == pp.PING


# ------------------------------------------------------------------ limits
def padded_body(total):
    b = b'{"pad":"' + b"x" * (total - 10) + b'"}'
    assert len(b) == total
    return b


def test_body_exactly_max(srv, bystander):
    c = srv.login("alice")
    c.send(pp.PING, padded_body(65536))
    assert c.recv().command == pp.PING


@pytest.mark.parametrize("logged_in", [False, True])
def test_oversize_body_refused_from_header(srv, bystander, logged_in):
    c = srv.login("alice") if logged_in else srv.tcp()
    # only the 28-byte header: the server must refuse without waiting for the body
    c.send_raw(pp.encode_up(pp.PING, b"", body_len=65537))
    t0 = time.monotonic()
    c.expect_error(pp.E_BODY_TOO_LARGE, closes=True, timeout=3 * SLOW)
    assert time.monotonic() - t0 < 3 * SLOW
    bystander.check()


def test_oversize_body_huge_declared(srv, bystander):
    c = srv.tcp()
    c.send_raw(pp.encode_up(pp.LOGIN, b"", body_len=0x7FFFFFFF))
    c.expect_error(pp.E_BODY_TOO_LARGE, closes=True)
    bystander.check()


def test_max_body_flag(server):
    s = server("--max-body=1000")
    c = s.login("alice")
    c.send(pp.PING, padded_body(1000))
    assert c.recv().command == pp.PING
    c.send(pp.PING, padded_body(1001))
    c.expect_error(pp.E_BODY_TOO_LARGE, closes=True)


def test_imei_max_length_ok(srv):
    imei = "i" * 128
    c = srv.tcp()
    ack = c.login("alice", srv.token("alice"), client_type=pp.CT_ANDROID, imei=imei)
    assert ack.command == pp.LOGINACK and ack.data["imei"] == imei, ack


@pytest.mark.parametrize("logged_in", [False, True])
def test_imei_too_long(srv, bystander, logged_in):
    c = srv.login("alice") if logged_in else srv.tcp()
    c.send(pp.PING, {}, imei="i" * 129)
    c.expect_error(pp.E_IMEI_TOO_LONG, closes=True)
    bystander.check()


def test_imei_too_long_header_only(srv, bystander):
    c = srv.tcp()
    c.send_raw(pp.encode_up(pp.LOGIN, b"", imei_len=100000, body_len=2))
    c.expect_error(pp.E_IMEI_TOO_LONG, closes=True)
    bystander.check()


def test_max_imei_flag(server):
    s = server("--max-imei=8")
    c = s.tcp()
    assert c.login("alice", s.token("alice"), imei="12345678").command == pp.LOGINACK
    c.send(pp.PING, {}, imei="123456789")
    c.expect_error(pp.E_IMEI_TOO_LONG, closes=True)


# ----------------------------------------------------------- malformed frames
MALFORMED = {
    # name: (frame bytes, expected code)
    "message-type-1": (lambda: pp.encode_up(pp.PING, {}, message_type=1), pp.E_MESSAGE_TYPE),
    "message-type-neg": (lambda: pp.encode_up(pp.PING, {}, message_type=-1), pp.E_MESSAGE_TYPE),
    "utf8-invalid-byte": (lambda: pp.encode_up(pp.PING, b'{"a":"\xff"}'), pp.E_BAD_UTF8),
    "utf8-overlong": (lambda: pp.encode_up(pp.PING, b'{"a":"\xc0\xaf"}'), pp.E_BAD_UTF8),
    "utf8-surrogate": (lambda: pp.encode_up(pp.PING, b'{"a":"\xed\xa0\x80"}'), pp.E_BAD_UTF8),
    "utf8-truncated": (lambda: pp.encode_up(pp.PING, b'{"a":"\xe2\x82"}'), pp.E_BAD_UTF8),
    "utf8-bad-imei": (lambda: pp.encode_up(pp.PING, {}, imei=b"ab\xfe"), pp.E_BAD_UTF8),
    "json-not-json": (lambda: pp.encode_up(pp.PING, b"hello"), pp.E_BAD_JSON),
    "json-array": (lambda: pp.encode_up(pp.PING, b"[1,2,3]"), pp.E_BAD_JSON),
    "json-string": (lambda: pp.encode_up(pp.PING, b'"str"'), pp.E_BAD_JSON),
    "json-number": (lambda: pp.encode_up(pp.PING, b"42"), pp.E_BAD_JSON),
    "json-truncated": (lambda: pp.encode_up(pp.PING, b'{"a":1'), pp.E_BAD_JSON),
    "json-trailing-garbage": (lambda: pp.encode_up(pp.PING, b'{"a":1}xyz'), pp.E_BAD_JSON),
    "command-zero": (lambda: pp.encode_up(0, {}), pp.E_BAD_HEADER),
    "command-negative": (lambda: pp.encode_up(-5, {}), pp.E_BAD_HEADER),
    "imei-len-negative": (lambda: pp.encode_up(pp.PING, b"{}", imei_len=-1), pp.E_BAD_HEADER),
    "body-len-negative": (lambda: pp.encode_up(pp.PING, b"", body_len=-1), pp.E_BAD_HEADER),
}


@pytest.mark.parametrize("logged_in", [False, True])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_frame(srv, bystander, case, logged_in):
    frame, code = MALFORMED[case]
    c = srv.login("alice") if logged_in else srv.tcp()
    c.send_raw(frame())
    c.expect_error(code, closes=True)
    bystander.check()


@pytest.mark.parametrize("case", ["message-type-1", "utf8-invalid-byte", "json-array",
                                  "command-zero", "body-len-negative"])
def test_malformed_frame_ws(srv, bystander, case):
    frame, code = MALFORMED[case]
    c = srv.login("alice", transport="ws")
    c.send_binary(frame())
    c.expect_error(code, closes=True)   # binary error packet, then a close frame
    bystander.check()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
def test_garbage_bytes(srv, bystander, seed):
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(28, 600)))
    # self-check of the generator: this header is malformed in some way
    cmd, ver, ct, mt, app, il, bl = struct.unpack(">7i", data[:28])
    assert mt != 0 or il > 128 or il < 0 or bl < 0 or bl > 65536 or cmd <= 0
    c = srv.tcp() if seed % 2 else srv.login("alice")
    try:
        c.send_raw(data)
    except OSError:
        pass
    pkts, how = c.expect_closed()
    assert pkts, "garbage (seed %d) closed without an error packet (%s)" % (seed, how)
    assert all(p.command == pp.ERROR for p in pkts), pkts
    assert 61000 <= pkts[-1].code <= 61012, pkts
    bystander.check()


def test_garbage_flood_then_many_logins(srv, bystander):
    """Many garbage connections in a row, then the server is still healthy."""
    rnd = random.Random(99)
    for i in range(30):
        c = srv.tcp()
        try:
            c.send_raw(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))))
        except OSError:
            pass
        if i % 3 == 0:
            c.reset()
        else:
            c.close()
    bystander.check()


# ------------------------------------------------------------------ misc
def test_pong_server_time_moves(srv):
    c = srv.login("alice")
    t1 = c.ping().data["serverTime"]
    time.sleep(0.05)
    t2 = c.ping().data["serverTime"]
    assert t2 >= t1 + 40, (t1, t2)


def test_client_half_close_after_frames(srv):
    """Client sends LOGIN+PING then shuts down its write side: the replies
    must still be delivered, then the server closes."""
    c = srv.tcp()
    c.send_raw(login_frame(srv) + pp.encode_up(pp.PING, {}))
    import socket
    c.sock.shutdown(socket.SHUT_WR)
    pkts, _ = c.expect_closed()
    assert [p.command for p in pkts] == [pp.LOGINACK, pp.PING], pkts
