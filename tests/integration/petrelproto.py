"""Minimal, stdlib-only petrel client for the black-box integration tests.

Written from the protocol description, independently of the C code:
  * userSign token maker/parser,
  * uplink frame encoder / downlink frame decoder,
  * a TCP client and a WebSocket client whose RFC 6455 client framing is
    hand-written, so tests can also send malformed, fragmented, unmasked or
    text frames.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import struct
import time
import zlib

# ---------------------------------------------------------------- commands
LOGIN = 9000
LOGINACK = 9001
MUTUALLOGIN = 9002
LOGOUT = 9003
ERROR = 9998
PING = 9999
MSG_P2P = 1103
# online status notifications (docs/PROTOCOL.md "Online status")
USER_CUSTOM_STATUS = 4003
USER_ONLINE_STATUS = 4004
USER_ONLINE_STATUS_SYNC = 4005
PRESENCE_PUSHES = frozenset({USER_CUSTOM_STATUS, USER_ONLINE_STATUS, USER_ONLINE_STATUS_SYNC})

APP_ID = 10000

# error codes
E_SIGN_INVALID = 60003
E_SIGN_EXPIRED = 60004
E_SIGN_MISMATCH = 60005
E_BAD_HEADER = 61000
E_IMEI_TOO_LONG = 61001
E_BODY_TOO_LARGE = 61002
E_MESSAGE_TYPE = 61003
E_BAD_UTF8 = 61004
E_BAD_JSON = 61005
E_NOT_LOGGED_IN = 61006
E_FROM_MISMATCH = 61007
E_UNKNOWN_CMD = 61008
E_LOGIN_TIMEOUT = 61009
E_CLIENT_TYPE = 61010
E_APP_UNKNOWN = 61011
E_TEXT_FRAME = 61012
E_ALREADY_LOGGED = 61013
E_HEARTBEAT = 61014
E_SHUTDOWN = 61016

# error codes after which the server must close the connection
CLOSING_ERRORS = {60003, 60004, 60005, 61000, 61001, 61002, 61003, 61004,
                  61005, 61006, 61009, 61010, 61011, 61012, 61014, 61016}
# ... and those after which it must keep it open
KEEPING_ERRORS = {61007, 61008, 61013}

# client types
CT_WEBAPI, CT_WEB, CT_IOS, CT_ANDROID, CT_WINDOWS, CT_MAC = range(6)

UP_HDR = struct.Struct(">7i")
UP_HDR_LEN = UP_HDR.size  # 28
DOWN_HDR = struct.Struct(">ii")
DOWN_HDR_LEN = DOWN_HDR.size  # 8

DEFAULT_TIMEOUT = 5.0


# ------------------------------------------------------------------ tokens
_TO_URL = str.maketrans("+/=", "*-_")
_FROM_URL = str.maketrans("*-_", "+/=")


def sign_message(identifier, app_id, ttl, issued):
    return ("TLS.identifier:" + identifier + "\n"
            "TLS.appId:" + str(app_id) + "\n"
            "TLS.expireTime:" + str(issued) + "\n"
            "TLS.expire:" + str(ttl) + "\n")


def compute_sig(secret, identifier, app_id, ttl, issued):
    mac = hmac.new(secret.encode("utf-8"),
                   sign_message(identifier, app_id, ttl, issued).encode("utf-8"),
                   hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def encode_token_doc(doc):
    """Serialise a token document (dict, insertion order kept) to a token."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    raw = base64.b64encode(zlib.compress(text.encode("utf-8"))).decode("ascii")
    return raw.translate(_TO_URL)


def decode_token(token):
    """Token -> its JSON document (dict). Raises ValueError on garbage."""
    raw = base64.b64decode(token.strip().translate(_FROM_URL), validate=True)
    return json.loads(zlib.decompress(raw).decode("utf-8"))


def make_token(secret, identifier, app_id=APP_ID, ttl=3600, issued=None):
    if issued is None:
        issued = int(time.time())
    doc = {
        "TLS.identifier": identifier,
        "TLS.appId": int(app_id),
        "TLS.expire": int(ttl),
        "TLS.expireTime": int(issued),
        "TLS.sig": compute_sig(secret, identifier, app_id, ttl, issued),
    }
    return encode_token_doc(doc)


def verify_token(secret, token, now=None):
    """Python reference verifier: returns (code, doc), code 0 when valid."""
    if now is None:
        now = int(time.time())
    try:
        doc = decode_token(token)
        ident = doc["TLS.identifier"]
        app = doc["TLS.appId"]
        ttl = doc["TLS.expire"]
        issued = doc["TLS.expireTime"]
        sig = doc["TLS.sig"]
    except Exception:
        return E_SIGN_INVALID, None
    want = compute_sig(secret, ident, app, ttl, issued)
    if not hmac.compare_digest(want, sig):
        return E_SIGN_INVALID, doc
    if issued + ttl < now:
        return E_SIGN_EXPIRED, doc
    return 0, doc


# ------------------------------------------------------------------ frames
def _as_bytes(v):
    if v is None:
        return b""
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8")
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_up(command, body=None, *, version=1, client_type=CT_WEB,
              message_type=0, app_id=APP_ID, imei=b"", imei_len=None,
              body_len=None):
    """Encode an uplink frame.  body: dict/list (JSON-encoded), str or bytes;
    None means b"{}".  imei_len/body_len override the header fields (for
    malformed-frame tests); the bytes actually appended are imei and body."""
    if body is None:
        body = b"{}"
    b = _as_bytes(body)
    i = _as_bytes(imei)
    hdr = UP_HDR.pack(command, version, client_type, message_type, app_id,
                      len(i) if imei_len is None else imei_len,
                      len(b) if body_len is None else body_len)
    return hdr + i + b


def decode_up(buf):
    """Decode an uplink frame (used to self-test encode_up)."""
    if len(buf) < UP_HDR_LEN:
        return None, 0
    f = UP_HDR.unpack_from(buf)
    il, bl = f[5], f[6]
    n = UP_HDR_LEN + il + bl
    if len(buf) < n:
        return None, 0
    return dict(command=f[0], version=f[1], client_type=f[2], message_type=f[3],
                app_id=f[4], imei=bytes(buf[28:28 + il]),
                body=bytes(buf[28 + il:n])), n


class Packet:
    __slots__ = ("command", "data", "raw")

    def __init__(self, command, raw):
        self.command = command
        self.raw = raw
        try:
            self.data = json.loads(raw.decode("utf-8"))
        except Exception:
            self.data = None

    @property
    def code(self):
        return self.data.get("code") if isinstance(self.data, dict) else None

    def __repr__(self):
        return "Packet(%d, %r)" % (self.command, self.raw[:300])


def encode_down(command, data):
    j = _as_bytes(data)
    return DOWN_HDR.pack(command, len(j)) + j


class ProtocolViolation(AssertionError):
    """The server sent something the protocol does not allow."""


def decode_down(buf, max_len=16 << 20):
    """-> (Packet, consumed) or (None, 0) when incomplete."""
    if len(buf) < DOWN_HDR_LEN:
        return None, 0
    cmd, ln = DOWN_HDR.unpack_from(buf)
    if ln < 0 or ln > max_len:
        raise ProtocolViolation("downlink frame with bad length %d (cmd %d)" % (ln, cmd))
    if len(buf) < DOWN_HDR_LEN + ln:
        return None, 0
    return Packet(cmd, bytes(buf[DOWN_HDR_LEN:DOWN_HDR_LEN + ln])), DOWN_HDR_LEN + ln


# ----------------------------------------------------------------- clients
class ConnectionClosed(Exception):
    """The server ended the connection.  how: 'eof', 'reset' or 'ws-close'."""

    def __init__(self, how, ws_code=None, ws_reason=b""):
        super().__init__("%s%s" % (how, "" if ws_code is None else " code=%s reason=%r"
                                   % (ws_code, bytes(ws_reason).decode("utf-8", "replace"))))
        self.how = how
        self.ws_code = ws_code
        self.ws_reason = ws_reason


class BaseClient:
    timeout = DEFAULT_TIMEOUT
    # Commands recv() drops: the online-status notifications a device gets
    # whenever another device of its user (or a friend) comes or goes.
    # Only test_presence.py looks at them; it sets ignore to an empty set.
    ignore = PRESENCE_PUSHES

    def __init__(self):
        self.closed = None  # ConnectionClosed once the server ended it
        self.ignored = []   # what recv() dropped (for failure messages)

    # transport hooks -----------------------------------------------------
    def send_frame_bytes(self, data):
        raise NotImplementedError

    def _next_packet(self, deadline):
        raise NotImplementedError

    # packet level -----------------------------------------------------------
    def send(self, command, body=None, **kw):
        self.send_frame_bytes(encode_up(command, body, **kw))

    def recv(self, timeout=None):
        """Next downlink packet.  Raises ConnectionClosed or TimeoutError."""
        if self.closed is not None:
            raise self.closed
        t = self.timeout if timeout is None else timeout
        return self._next_wanted(time.monotonic() + t)

    def _next_wanted(self, deadline):
        while True:
            p = self._next_packet(deadline)
            if p.command not in self.ignore:
                return p
            self.ignored.append(p)

    def login(self, user, token, client_type=CT_WEB, imei="", app_id=APP_ID,
              timeout=None, extra=None, **kw):
        body = {"userId": user, "userSign": token}
        if extra:
            body.update(extra)
        self.send(LOGIN, body, client_type=client_type, imei=imei,
                  app_id=app_id, **kw)
        return self.recv(timeout)

    def ping(self, timeout=None, client_type=CT_WEB, **kw):
        """Send a PING and return the next packet (a pong if all is well)."""
        self.send(PING, {}, client_type=client_type, **kw)
        return self.recv(timeout)

    def expect_closed(self, timeout=None):
        """Read until the server ends the connection; returns the packets
        received before that and the ConnectionClosed.  AssertionError if
        the connection is still open after timeout."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        pkts = []
        while True:
            try:
                if self.closed is not None:
                    raise self.closed
                pkts.append(self._next_wanted(deadline))
            except ConnectionClosed as e:
                self._after_close(e, t)
                return pkts, e
            except TimeoutError:
                raise AssertionError("connection still open after %.1fs; packets: %r"
                                     % (t, pkts))

    def _after_close(self, exc, timeout):
        pass

    def expect_error(self, code, closes, command=None, timeout=None):
        """Next packet must be ERROR with `code` (and `command` if given);
        then the connection must be closed (closes=True) or still usable,
        i.e. a PING is answered (closes=False).  Returns the error packet."""
        try:
            p = self.recv(timeout)
        except ConnectionClosed as e:
            raise AssertionError("expected error %d, connection was closed instead (%s)"
                                 % (code, e))
        except TimeoutError:
            raise AssertionError("expected error %d, nothing received" % code)
        assert p.command == ERROR, "expected ERROR %d, got %r" % (code, p)
        assert isinstance(p.data, dict), "error packet data is not an object: %r" % p
        assert p.data.get("code") == code, "expected error code %d, got %r" % (code, p)
        assert isinstance(p.data.get("msg"), str), "error packet without msg: %r" % p
        if command is not None:
            assert p.data.get("command") == command, \
                "error packet command: expected %d, got %r" % (command, p)
        if closes:
            rest, _ = self.expect_closed(timeout)
            assert not rest, "packets after error %d before close: %r" % (code, rest)
        else:
            pong = self.ping(timeout)
            assert pong.command == PING, \
                "connection not usable after error %d: ping got %r" % (code, pong)
        return p

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class TcpClient(BaseClient):
    def __init__(self, port, host="127.0.0.1", timeout=None):
        super().__init__()
        if timeout is not None:
            self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send_raw(self, data):
        self.sock.sendall(data)

    send_frame_bytes = send_raw

    def send_slowly(self, data, chunk=1, delay=0.001):
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            time.sleep(delay)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from server")
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from server")
        except (ConnectionResetError, BrokenPipeError):
            self.closed = ConnectionClosed("reset")
            raise self.closed
        if not d:
            self.closed = ConnectionClosed("eof")
            raise self.closed
        self.buf += d

    def _next_packet(self, deadline):
        while True:
            p, n = decode_down(self.buf)
            if p is not None:
                del self.buf[:n]
                return p
            try:
                self._fill(deadline)
            except ConnectionClosed:
                if self.buf:
                    raise ProtocolViolation("connection closed with %d bytes of a partial "
                                            "frame pending: %r" % (len(self.buf), bytes(self.buf[:64])))
                raise

    def reset(self):
        """Abortive close (RST)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------- websocket
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None,
             length_override=None):
    """Hand-written RFC 6455 frame (client side: masked by default)."""
    payload = _as_bytes(payload)
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length_override is None else length_override
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4) if mask_key is None else mask_key
        masked = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
        return hdr + key + masked
    return hdr + payload


def ws_parse_frame(buf):
    """-> ((fin, rsv, opcode, masked, payload), consumed) or (None, 0)."""
    if len(buf) < 2:
        return None, 0
    b0, b1 = buf[0], buf[1]
    fin = bool(b0 & 0x80)
    rsv = (b0 >> 4) & 7
    op = b0 & 0x0F
    masked = bool(b1 & 0x80)
    n = b1 & 0x7F
    off = 2
    if n == 126:
        if len(buf) < 4:
            return None, 0
        n = struct.unpack_from("!H", buf, 2)[0]
        off = 4
    elif n == 127:
        if len(buf) < 10:
            return None, 0
        n = struct.unpack_from("!Q", buf, 2)[0]
        off = 10
    key = None
    if masked:
        if len(buf) < off + 4:
            return None, 0
        key = bytes(buf[off:off + 4])
        off += 4
    if len(buf) < off + n:
        return None, 0
    payload = bytes(buf[off:off + n])
    if masked:
        payload = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
    return (fin, rsv, op, masked, payload), off + n


class WsClient(BaseClient):
    """WebSocket client.  Packet-level API as TcpClient (one binary message
    per frame); frame-level API (send_ws_frame / recv_ws_frame) for the
    WebSocket tests."""

    def __init__(self, port, path="/ws", host="127.0.0.1", timeout=None,
                 auto_pong=True):
        super().__init__()
        if timeout is not None:
            self.timeout = timeout
        self.auto_pong = auto_pong
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.tcp_eof = False
        self.control = []  # control frames seen by recv() (pongs...)
        self.close_sent = False
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.sock.sendall(req.encode())
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill_raw(deadline)
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        parts = self.status_line.split()
        if len(parts) < 2 or parts[1] != "101":
            raise ProtocolViolation("WebSocket upgrade refused: %r" % self.status_line)
        if self.headers.get("sec-websocket-accept") != ws_accept(key):
            raise ProtocolViolation("bad Sec-WebSocket-Accept: %r" % self.headers)
        if self.headers.get("upgrade", "").lower() != "websocket":
            raise ProtocolViolation("101 without Upgrade: websocket: %r" % self.headers)

    # raw socket --------------------------------------------------------------
    def _fill_raw(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from server")
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from server")
        except (ConnectionResetError, BrokenPipeError):
            self.tcp_eof = True
            raise ConnectionClosed("reset")
        if not d:
            self.tcp_eof = True
            raise ConnectionClosed("eof")
        self.buf += d

    def send_raw(self, data):
        self.sock.sendall(data)

    # frame level ---------------------------------------------------------------
    def send_ws_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(ws_frame(opcode, payload, **kw))

    def send_binary(self, data):
        self.send_ws_frame(OP_BINARY, data)

    send_frame_bytes = send_binary

    def send_text(self, text):
        self.send_ws_frame(OP_TEXT, text)

    def send_ping(self, payload=b""):
        self.send_ws_frame(OP_PING, payload)

    def send_close(self, code=1000, reason=b""):
        payload = b"" if code is None else struct.pack("!H", code) + _as_bytes(reason)
        self.send_ws_frame(OP_CLOSE, payload)
        self.close_sent = True

    def recv_ws_frame(self, timeout=None):
        """Next raw frame (fin, rsv, opcode, masked, payload).  Raises
        ConnectionClosed('eof'/'reset') on TCP end, TimeoutError."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        while True:
            f, n = ws_parse_frame(self.buf)
            if f is not None:
                del self.buf[:n]
                if f[3]:
                    raise ProtocolViolation("server sent a masked frame: %r" % (f,))
                return f
            self._fill_raw(deadline)

    def wait_tcp_eof(self, timeout=None):
        """After a close frame: the server must close the TCP connection."""
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        extra = []
        while True:
            try:
                extra.append(self.recv_ws_frame(max(0.0, deadline - time.monotonic()) or 0.001))
            except ConnectionClosed:
                return extra
            except TimeoutError:
                raise AssertionError("TCP connection still open %.1fs after the close "
                                     "frame; frames after close: %r" % (t, extra))

    # set False to accept a bare TCP close without a WebSocket close frame
    require_close_frame = True

    def _after_close(self, exc, timeout):
        if exc.how == "ws-close":
            if not self.tcp_eof:
                self.wait_tcp_eof(timeout)
        elif self.require_close_frame:
            raise AssertionError("server ended the WebSocket connection without a "
                                 "close frame (%s)" % exc.how)

    def _next_packet(self, deadline):
        frags = None
        while True:
            try:
                f = self.recv_ws_frame(max(0.001, deadline - time.monotonic()))
            except ConnectionClosed as e:
                self.closed = e
                raise
            fin, rsv, op, _, payload = f
            if rsv:
                raise ProtocolViolation("server frame with RSV bits: %r" % (f,))
            if op == OP_PING:
                self.control.append(f)
                if self.auto_pong and not self.close_sent:
                    self.send_ws_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                self.control.append(f)
                continue
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                if not self.close_sent:
                    try:
                        self.send_close(code if code is not None else 1000)
                    except OSError:
                        pass
                self.closed = ConnectionClosed("ws-close", code, payload[2:])
                raise self.closed
            if op == OP_TEXT:
                raise ProtocolViolation("server sent a text frame: %r" % (payload[:200],))
            if op == OP_BINARY:
                if frags is not None:
                    raise ProtocolViolation("new data frame inside a fragmented message")
                frags = [payload]
            elif op == OP_CONT:
                if frags is None:
                    raise ProtocolViolation("continuation frame without a start")
                frags.append(payload)
            else:
                raise ProtocolViolation("unknown opcode %d" % op)
            if fin:
                msg = b"".join(frags)
                p, n = decode_down(msg)
                if p is None or n != len(msg):
                    raise ProtocolViolation("WS binary message is not exactly one "
                                            "downlink frame: %r" % msg[:100])
                return p

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------- http
def http_get(port, path, headers=None, timeout=5.0, host="127.0.0.1"):
    """-> (status, headers dict lower-cased, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def http_request(port, method, path, body=None, headers=None, timeout=5.0, host="127.0.0.1"):
    """-> (status, headers dict lower-cased, body bytes).  body: bytes, str
    or a JSON-serialisable object."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def signed_path(path, secret, identifier, app_id=APP_ID, ttl=3600):
    """path?appId=..&identifier=..&userSign=.. with a fresh token."""
    from urllib.parse import quote
    tok = make_token(secret, identifier, app_id=app_id, ttl=ttl)
    sep = "&" if "?" in path else "?"
    return "%s%sappId=%d&identifier=%s&userSign=%s" % (path, sep, app_id, quote(identifier, safe=""),
                                                      quote(tok, safe=""))
