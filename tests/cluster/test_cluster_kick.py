"""Cluster test 2: a same-platform login on node 3 kicks the device on
node 1 (login policy 3, the default: one phone, one desktop, any number of
web devices).  The kicked device gets MUTUALLOGIN 9002 naming the new
device, then its connection is closed; alice's web device on node 2 is
not touched; the registry then lists exactly the new phone and the web
device (asked on node 2); a message from bob reaches the new phone, not
the old one.  Then the same for desktops (mac on node 2 kicks windows on
node 3), and a phone login on node 1 kicking the phone on node 3.  And the
login policy set through one node is applied by the others."""
import time

import petrelproto as pp
from conftest import SLOW
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
