"""Multi-device login policies, kicks (MUTUALLOGIN 9002), heartbeats,
LOGOUT, and release of sessions when connections go away."""
import socket
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW

WEBAPI, WEB, IOS, ANDROID, WINDOWS, MAC = range(6)


def assert_kicked(c, user, ct, imei, by_ct, by_imei):
    try:
        p = c.recv()
    except pp.ConnectionClosed as e:
        raise AssertionError("%s ct=%d imei=%s: closed (%s) without MUTUALLOGIN 9002"
                             % (user, ct, imei, e))
    except TimeoutError:
        raise AssertionError("%s ct=%d imei=%s was not kicked (no 9002)" % (user, ct, imei))
    assert p.command == pp.MUTUALLOGIN, "expected 9002, got %r" % p
    want = {"userId": user, "clientType": ct, "imei": imei,
            "byClientType": by_ct, "byImei": by_imei}
    got = {k: p.data.get(k) for k in want}
    assert got == want, "MUTUALLOGIN data %r, expected %r" % (p.data, want)
    rest, _ = c.expect_closed()
    assert not rest, "packets after MUTUALLOGIN: %r" % rest


def assert_alive(devs):
    """Each client answers a ping with a pong and received nothing else
    (in particular no MUTUALLOGIN)."""
    time.sleep(0.15 * SLOW)   # let any cross-thread kick arrive first
    for name, c in devs.items():
        try:
            p = c.ping()
        except pp.ConnectionClosed as e:
            raise AssertionError("%s was disconnected (%s)" % (name, e))
        assert p.command == pp.PING, "%s should not have been kicked, got %r" % (name, p)


class Devices:
    def __init__(self, srv):
        self.srv = srv
        self.c = {}

    def login(self, name, user, ct, imei, transport="tcp"):
        c = self.srv.login(user, client_type=ct, imei=imei, transport=transport)
        self.c[name] = (c, user, ct, imei)
        return c

    def kicked(self, name, by):
        c, user, ct, imei = self.c.pop(name)
        _, _, bct, bimei = self.c[by]
        assert_kicked(c, user, ct, imei, bct, bimei)

    def alive(self, *names):
        assert_alive({n: self.c[n][0] for n in (names or list(self.c))})


# --------------------------------------------------------------- policies
def test_mode1_any_login_kicks_all_others(server):
    d = Devices(server("--login-policy=1"))
    d.login("api", "alice", WEBAPI, "api-1")
    d.login("ios", "alice", IOS, "ios-1")
    d.login("bob", "bob", IOS, "ios-b")         # another user: never affected
    d.login("web", "alice", WEB, "web-1")
    d.kicked("ios", by="web")
    d.alive()
    d.login("mac", "alice", MAC, "mac-1")
    d.kicked("web", by="mac")
    d.alive("api", "bob", "mac")


def test_mode1_webapi_never_kicks(server):
    d = Devices(server("--login-policy=1"))
    d.login("web", "alice", WEB, "web-1")
    d.login("api", "alice", WEBAPI, "api-1")
    d.login("api2", "alice", WEBAPI, "api-2")
    d.alive("web", "api", "api2")


def test_mode2_mobile_and_desktop_exclusive(server):
    d = Devices(server("--login-policy=2"))
    d.login("api", "alice", WEBAPI, "api-1")
    d.login("ios", "alice", IOS, "ios-1")
    d.login("web1", "alice", WEB, "web-1")
    d.login("web2", "alice", WEB, "web-2")
    d.alive()                                   # web never kicks
    d.login("win", "alice", WINDOWS, "win-1")   # desktop kicks the mobile
    d.kicked("ios", by="win")
    d.alive("api", "web1", "web2", "win")
    d.login("and", "alice", ANDROID, "and-1")   # mobile kicks the desktop
    d.kicked("win", by="and")
    d.login("web3", "alice", WEB, "web-3")
    d.alive("api", "web1", "web2", "web3", "and")


def test_mode3_default(srv):
    d = Devices(srv)                            # no --login-policy: mode 3
    d.login("api", "alice", WEBAPI, "api-1")
    d.login("ios", "alice", IOS, "ios-1")
    d.login("web", "alice", WEB, "web-1")
    d.login("win", "alice", WINDOWS, "win-1")
    d.alive()                                   # mobile + desktop + web coexist
    d.login("and", "alice", ANDROID, "and-1")   # android kicks ios
    d.kicked("ios", by="and")
    d.alive("api", "web", "win", "and")
    d.login("mac", "alice", MAC, "mac-1")       # mac kicks windows
    d.kicked("win", by="mac")
    d.login("web2", "alice", WEB, "web-2")
    d.alive("api", "web", "web2", "and", "mac")


def test_mode3_explicit_two_ios(server):
    d = Devices(server("--login-policy=3"))
    d.login("ios1", "alice", IOS, "ios-1")
    d.login("ios2", "alice", IOS, "ios-2")
    d.kicked("ios1", by="ios2")
    d.alive()


def test_mode4_nothing_kicked(server):
    d = Devices(server("--login-policy=4"))
    for ct in range(6):
        d.login("a%d" % ct, "alice", ct, "a-%d" % ct)
        d.login("b%d" % ct, "alice", ct, "b-%d" % ct)
    d.alive()


@pytest.mark.parametrize("mode", [1, 2, 3, 4])
@pytest.mark.parametrize("ct", [WEB, IOS, WINDOWS])
def test_same_device_relogin(server, mode, ct):
    d = Devices(server("--login-policy=%d" % mode))
    if mode == 4:   # another device of the same type, never kicked in mode 4
        d.login("other", "alice", ct, "other-imei")
    d.login("old", "alice", ct, "dev-1")
    d.login("new", "alice", ct, "dev-1")
    d.kicked("old", by="new")
    d.alive()


def test_same_imei_different_user_is_not_same_device(srv):
    d = Devices(srv)
    d.login("alice", "alice", IOS, "shared")
    d.login("bob", "bob", IOS, "shared")
    d.alive()


def test_max_per_platform(server):
    d = Devices(server("--login-policy=4", "--max-per-platform=2"))
    d.login("ios1", "alice", IOS, "i1")
    d.login("w1", "alice", WEB, "w1")
    d.login("w2", "alice", WEB, "w2")
    d.alive()
    d.login("w3", "alice", WEB, "w3")
    d.kicked("w1", by="w3")                     # the oldest goes
    d.alive("ios1", "w2", "w3")
    d.login("w4", "alice", WEB, "w4")
    d.kicked("w2", by="w4")
    d.login("ios2", "alice", IOS, "i2")
    d.login("bw1", "bob", WEB, "w1")            # per user
    d.alive("ios1", "ios2", "w3", "w4", "bw1")


@pytest.mark.parametrize("victim,kicker", [("ws", "tcp"), ("tcp", "ws")])
def test_kick_across_transports(srv, victim, kicker):
    d = Devices(srv)
    d.login("web", "alice", WEB, "web-1", transport=victim)
    d.login("ios", "alice", IOS, "ios-1", transport=victim)
    d.login("and", "alice", ANDROID, "and-1", transport=kicker)
    d.kicked("ios", by="and")    # over WS: binary 9002, then a close frame
    d.alive()


# ---------------------------------------------------------- session release
def test_closed_session_released_mode1(server):
    """With mode 1 every login kicks every other device: a device whose
    connection is already gone must not be 'kicked' (no crash, no 9002 to
    anyone) and the new login must succeed."""
    s = server("--login-policy=1")
    a = s.login("alice", client_type=IOS, imei="a")
    a.close()
    b_dev = Devices(s)
    time.sleep(0.1)
    b_dev.login("b", "alice", ANDROID, "b")
    b_dev.alive()
    b_dev.login("c", "alice", WEB, "c")         # the session table still works
    b_dev.kicked("b", by="c")
    b_dev.alive()


@pytest.mark.parametrize("how", ["close", "reset", "logout"])
def test_departing_device_races_with_kick(server, how):
    """Devices that disconnect (FIN, RST or LOGOUT) at the very moment a new
    login would kick them; repeated, then the server must be healthy."""
    s = server("--login-policy=1")
    for i in range(25):
        c = s.login("alice", client_type=IOS, imei="dev")
        if how == "close":
            c.close()
        elif how == "reset":
            c.reset()
        else:
            c.send(pp.LOGOUT, {})
        # immediately, without waiting for the server to notice
    d = Devices(s)
    d.login("last", "alice", ANDROID, "x")
    d.alive()
    d.login("web", "alice", WEB, "w")
    d.kicked("last", by="web")


def test_close_without_reading_ack(server):
    """Client sends LOGIN and disappears before the ack is written."""
    s = server("--login-policy=1")
    for i in range(20):
        c = s.tcp()
        c.send(pp.LOGIN, {"userId": "alice", "userSign": s.token("alice")},
               client_type=IOS, imei="i%d" % i)
        c.reset()
    # the server may still process those LOGINs (read before the RST) on
    # another worker: give it time, so the order of logins is defined
    time.sleep(0.5 * SLOW)
    d = Devices(s)
    d.login("ok", "alice", MAC, "m")
    d.alive()


def test_concurrent_logins_same_device(server):
    """Parallel logins of one device: all but (at most) one end kicked,
    the server survives, and exactly the last ack'ed connection is alive."""
    s = server("--login-policy=3", "--workers=2")
    n = 16
    clients = [s.tcp() for _ in range(n)]
    frame = pp.encode_up(pp.LOGIN, {"userId": "alice", "userSign": s.token("alice")},
                         client_type=IOS, imei="same")
    barrier = threading.Barrier(n)

    def go(c):
        barrier.wait()
        c.send_raw(frame)

    ts = [threading.Thread(target=go, args=(c,)) for c in clients]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    alive = 0
    for c in clients:
        p = c.recv()
        assert p.command == pp.LOGINACK, p
    time.sleep(0.3 * SLOW)
    for c in clients:
        try:
            c.send(pp.PING, {})
            pkts = []
            while True:
                p = c.recv(timeout=2 * SLOW)
                pkts.append(p)
                if p.command in (pp.PING, pp.MUTUALLOGIN):
                    break
        except (pp.ConnectionClosed, OSError):
            continue
        if pkts[-1].command == pp.PING:
            alive += 1
    assert alive == 1, "%d connections of the same device survived, expected 1" % alive
    assert s.alive()


# --------------------------------------------------------------- heartbeat
@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_heartbeat_timeout(server, transport):
    s = server("--heartbeat-interval-ms=200", "--heartbeat-miss=3")
    c = s.login("alice", transport=transport)
    t0 = time.monotonic()
    p = c.recv(timeout=5 * SLOW)
    dt = time.monotonic() - t0
    assert p.command == pp.ERROR and p.code == pp.E_HEARTBEAT, p
    assert 0.35 <= dt <= 2.0 * SLOW, "closed after %.2fs, expected ~0.6s" % dt
    rest, _ = c.expect_closed()
    assert not rest, rest


def test_heartbeat_pinging_client_survives(server):
    s = server("--heartbeat-interval-ms=200", "--heartbeat-miss=3")
    c = s.login("alice")
    idle = s.login("bob")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        p = c.ping()
        assert p.command == pp.PING, "pinging client got %r after %.2fs" % (
            p, time.monotonic() - t0)
        time.sleep(0.1)
    # the idle one was cut meanwhile
    p = idle.recv(timeout=0.1)
    assert p.command == pp.ERROR and p.code == pp.E_HEARTBEAT, p


def test_heartbeat_any_packet_resets(server):
    """Not only PING: any packet (here: an unknown command) resets the timer."""
    s = server("--heartbeat-interval-ms=200", "--heartbeat-miss=3")
    c = s.login("alice")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.2:
        c.send(1234, {})
        p = c.recv()
        assert p.command == pp.ERROR and p.code == pp.E_UNKNOWN_CMD, p
        time.sleep(0.1)
    assert c.ping().command == pp.PING


def test_heartbeat_miss_flag(server):
    s = server("--heartbeat-interval-ms=200", "--heartbeat-miss=6")
    c = s.login("alice")
    t0 = time.monotonic()
    p = c.recv(timeout=5 * SLOW)
    dt = time.monotonic() - t0
    assert p.code == pp.E_HEARTBEAT, p
    assert dt >= 0.95, "heartbeat-miss=6 x 200ms closed after %.2fs" % dt


# ------------------------------------------------------------------ logout
@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_logout_closes(srv, transport):
    d = Devices(srv)
    c = d.login("ios", "alice", IOS, "i1", transport=transport)
    d.login("web", "alice", WEB, "w1")
    c.send(pp.LOGOUT, {})
    pkts, _ = c.expect_closed()
    assert not [p for p in pkts if p.command in (pp.ERROR, pp.MUTUALLOGIN)], pkts
    del d.c["ios"]
    # the same device logs in again: nobody is kicked, the other device lives
    d.login("ios2", "alice", IOS, "i1")
    d.alive()
