"""Cluster test 2: a same-platform login on node 3 kicks the device on
node 1 (login policy 3, the default: one phone, one desktop, any number of
web devices).  The kicked device gets MUTUALLOGIN 9002 naming the new
device, then its connection is closed; alice's web device on node 2 is
not touched; the registry then lists exactly the new phone and the web
device (asked on node 2); a message from bob reaches the new phone, not
the old one.  Then the same for desktops (mac on node 2 kicks windows on
node 3), and a phone login on node 1 kicking the phone on node 3.  And the
login policy set through one node is applied by the others."""
import threading
import time

import petrelproto as pp
from conftest import SLOW, wait_for
from test_messages import (ANDROID, IOS, MAC, MSG_P2P, WEB, WEBAPI, WINDOWS, Dev, check_msg,
                           send_ok)
from test_sessions import assert_kicked

T = 5.0 * SLOW


def test_same_platform_login_on_another_node_kicks(cluster):
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob"])
    old = Dev(n1, "alice", IOS, imei="ios-old-n1")
    web = Dev(n2, "alice", WEB, imei="web-n2")
    bob = Dev(n2, "bob", WEB, imei="bob-n2")
    assert c.sessions(n3, "alice") == sorted([(IOS, old.imei), (WEB, web.imei)])

    new = Dev(n3, "alice", IOS, imei="ios-new-n3")
    assert_kicked(old.c, "alice", IOS, old.imei, IOS, new.imei)
    assert web.c.ping().command == pp.PING, "alice's web device on node 2 was touched"
    assert new.c.ping().command == pp.PING
    for n in c:
        assert c.sessions(n, "alice") == sorted([(IOS, new.imei), (WEB, web.imei)]), n

    m, ack = send_ok(bob, "alice")
    check_msg(new.take(MSG_P2P, timeout=T), MSG_P2P, m, "bob", ack, bob)
    check_msg(web.take(MSG_P2P, timeout=T), MSG_P2P, m, "bob", ack, bob)

    # desktops: mac on node 2 kicks windows on node 3
    win = Dev(n3, "alice", WINDOWS, imei="win-n3")
    mac = Dev(n2, "alice", MAC, imei="mac-n2")
    assert_kicked(win.c, "alice", WINDOWS, win.imei, MAC, mac.imei)
    # and back to phones: android on node 1 kicks the ios on node 3
    andr = Dev(n1, "alice", ANDROID, imei="and-n1")
    assert_kicked(new.c, "alice", IOS, new.imei, ANDROID, andr.imei)
    for d in (web, mac, andr, bob):
        assert d.c.ping(timeout=T).command == pp.PING, d
    assert c.sessions(n1, "alice") == sorted([(WEB, web.imei), (MAC, mac.imei),
                                              (ANDROID, andr.imei)])


def test_policy_change_on_one_node_applies_on_all(cluster):
    """The app's login policy set through node 1 (mode 1: a login kicks
    every other device but WebAPI ones) is what a login on node 3 applies
    to devices on nodes 1 and 2, once the nodes re-read the apps (2 s)."""
    c = cluster(3)
    n1, n2, n3 = c
    c.users(["alice", "bob"])
    c.api_ok(n1, "/v1/app/updateSetting", {"loginPolicy": 1})
    time.sleep(2.0 + 1.0 * SLOW)
    ios = Dev(n1, "alice", IOS, imei="ios-n1")
    api = Dev(n1, "alice", WEBAPI, imei="api-n1")
    web = Dev(n2, "alice", WEB, imei="web-n2")
    assert_kicked(ios.c, "alice", IOS, ios.imei, WEB, web.imei)
    bob = Dev(n2, "bob", IOS, imei="bob-n2")
    mac = Dev(n3, "alice", MAC, imei="mac-n3")
    assert_kicked(web.c, "alice", WEB, web.imei, MAC, mac.imei)
    for d in (api, bob, mac):
        assert d.c.ping(timeout=T).command == pp.PING, d
    assert c.sessions(n2, "alice") == sorted([(WEBAPI, api.imei), (MAC, mac.imei)])


def test_simultaneous_same_platform_logins_on_two_nodes(cluster):
    """Two phones of alice log in at the same moment on nodes 1 and 2 (the
    policy keeps one phone): whatever the order the registry's script saw
    them in, exactly one survives - the other gets 9002 and is closed - and
    the registry lists exactly the survivor.  10 rounds."""
    c = cluster(2)
    n1, n2 = c
    c.users(["alice"])
    tok = c.token("alice")
    outcome = []
    prev = []
    for rnd in range(10):
        clients = [n1.tcp(), n2.tcp()]
        imeis = ["ios-%d-n1" % rnd, "ios-%d-n2" % rnd]
        frames = [pp.encode_up(pp.LOGIN, {"userId": "alice", "userSign": tok},
                               client_type=IOS, imei=imei) for imei in imeis]
        go = threading.Barrier(2)

        def send(k):
            go.wait()
            clients[k].send_raw(frames[k])

        ts = [threading.Thread(target=send, args=(k,)) for k in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        got = [[], []]
        closed = [None, None]
        deadline = time.monotonic() + 3.0 * SLOW
        settled = None                # once one is closed and the other acked
        while time.monotonic() < deadline and \
                (settled is None or time.monotonic() < settled + 0.3 * SLOW):
            if settled is None and any(closed[k] is not None and pp.LOGINACK in got[1 - k]
                                       for k in range(2)):
                settled = time.monotonic()
            for k in range(2):
                if closed[k] is not None:
                    continue
                try:
                    got[k].append(clients[k].recv(0.05).command)
                except TimeoutError:
                    pass
                except pp.ConnectionClosed as e:
                    closed[k] = e.how
        kicked = [k for k in range(2) if pp.MUTUALLOGIN in got[k]]
        assert len(kicked) == 1 and closed[kicked[0]] is not None, \
            "round %d: not exactly one phone kicked: node 1 got %r (closed %r), node 2 got %r " \
            "(closed %r)" % (rnd, got[0], closed[0], got[1], closed[1])
        alive = 1 - kicked[0]
        assert got[alive][:1] == [pp.LOGINACK] and closed[alive] is None, \
            "round %d: the survivor (node %d) got %r, closed %r" % (rnd, alive + 1, got[alive],
                                                                    closed[alive])
        assert clients[alive].ping().command == pp.PING
        assert c.sessions(n1, "alice") == [(IOS, imeis[alive])], \
            "round %d: registry %r, survivor %s" % (rnd, c.sessions(n1, "alice"), imeis[alive])
        outcome.append(alive + 1)
        for cl in prev:
            cl.close()
        prev = clients
        clients[alive].close()
        wait_for(lambda: not c.sessions(n1, "alice"), 3 * SLOW, step=0.05,
                 what="alice's phone gone after its close")
    print("\nsimultaneous logins: survivors by node %r" % outcome)
