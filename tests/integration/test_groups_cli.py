"""Done-when of issue 6 with the real `petrel` binary: three CLIs (carol on
WebSocket) create a group, chat, mute and unmute, transfer ownership and
destroy the group; each user keeps a `petrel login` online in the
background, and every device ends with the same group history and state."""
import json

from test_cli_messages import Background, cli, http, lines, packets, uid

GROUP_MSG_ACK, MSG_GROUP, MSG_GROUP_SYNC = 2047, 2104, 2105
CREATED, MUTE, UNMUTE, TRANSFER, DESTROY = 2002, 2009, 2011, 2008, 2007


def group(s, user, action, *extra):
    r = cli("group", action, "--http", http(s), "--user", user, "--secret", s.secret, *extra)
    return r


def group_ok(s, user, action, *extra):
    r = group(s, user, action, *extra)
    assert r.returncode == 0, (action, r.stderr)
    return lines(r)


def group_fails(s, user, action, code, *extra):
    r = group(s, user, action, *extra)
    assert r.returncode == 1, (action, r.stdout)
    env = json.loads(r.stderr.decode().strip().splitlines()[-1])
    assert env["code"] == code, env


def gsend(s, user, gid, text, transport="tcp"):
    return cli("send", "--url", url_of(s, transport), "--user", user, "--secret", s.secret,
               "--group", gid, "--text", text, "--wait", "0.3")


def url_of(s, transport):
    return ("tcp://127.0.0.1:%d" % s.tcp_port if transport == "tcp"
            else "ws://127.0.0.1:%d/ws" % s.http_port)


def acks(r):
    return [d["data"] for d in packets(r) if d["command"] == GROUP_MSG_ACK]


def test_three_clis_run_a_group(server):
    s = server()
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    s.ensure_users([alice, bob, carol])
    online = {alice: Background(s, alice, "tcp", "a-bg"),
              bob: Background(s, bob, "tcp", "b-bg"),
              carol: Background(s, carol, "ws", "c-bg")}
    for bg in online.values():
        bg.wait_for(lambda d: d.get("command") == 9001)
    gid = group_ok(s, alice, "create", "--members", "%s,%s" % (bob, carol),
                   "--body", '{"groupName":"trio"}')[0]["groupId"]
    for bg in online.values():
        bg.wait_for(lambda d: d.get("command") == CREATED and d["data"]["groupId"] == gid)
    transports = {alice: "tcp", bob: "tcp", carol: "ws"}
    sent = []
    for i, u in enumerate([alice, bob, carol, alice]):
        r = gsend(s, u, gid, "msg %d from %s" % (i, u), transports[u])
        assert r.returncode == 0, r.stderr
        a = acks(r)
        assert len(a) == 1 and a[0]["code"] == 200, a
        sent.append(a[0]["data"]["messageSequence"])
    assert sent == [1, 2, 3, 4]
    # mute: members are refused (exit 3, code 40012), the owner speaks
    group_ok(s, alice, "mute", "--group", gid)
    r = gsend(s, bob, gid, "muted?")
    assert r.returncode == 3 and acks(r)[0]["code"] == 40012, r.stdout
    assert gsend(s, alice, gid, "owner speaks").returncode == 0          # 5
    group_ok(s, alice, "unmute", "--group", gid)
    assert gsend(s, carol, gid, "free again", "ws").returncode == 0      # 6
    # the owner cannot leave; transfer to bob; bob destroys it
    group_fails(s, alice, "exit", 40020, "--group", gid)
    group_ok(s, alice, "transfer", "--group", gid, "--owner", bob)
    group_fails(s, alice, "destroy", 40009, "--group", gid)
    assert gsend(s, bob, gid, "last words").returncode == 0              # 7
    group_ok(s, bob, "destroy", "--group", gid)
    r = gsend(s, carol, gid, "too late", "ws")
    assert r.returncode == 3 and acks(r)[0]["code"] == 40018
    for bg in online.values():
        bg.wait_for(lambda d: d.get("command") == DESTROY and d["data"]["groupId"] == gid)
    # every device: the same history (REST) and the same live stream
    histories = {u: [(row["messageSequence"], row["fromId"], json.loads(row["messageBody"])["content"])
                     for row in group_ok(s, u, "history", "--group", gid)]
                 for u in online}
    assert len(histories[alice]) == 7
    assert [h[0] for h in histories[alice]] == list(range(1, 8))
    assert histories[alice] == histories[bob] == histories[carol]
    for u, bg in online.items():
        got = bg.wait_for(lambda d: d.get("command") in (MSG_GROUP, MSG_GROUP_SYNC)
                          and d["data"]["messageSequence"] == 7)
        live = sorted({(d["data"]["messageSequence"], d["data"]["fromId"],
                        json.loads(d["data"]["messageBody"])["content"])
                       for d in bg.docs if d.get("command") in (MSG_GROUP, MSG_GROUP_SYNC)})
        assert live == histories[u], (u, live)
        assert got
        for cmd in (MUTE, UNMUTE, TRANSFER):
            assert any(d.get("command") == cmd for d in bg.docs), (u, cmd)
    state = {u: group_ok(s, u, "info", "--group", gid)[0] for u in (alice, bob, carol)}
    for u in online:
        st = state[u]
        assert (st["status"], st["ownerId"], st["mute"], st["messageSequence"]) == (2, bob, 0, 7)
    for bg in online.values():
        bg.stop()
