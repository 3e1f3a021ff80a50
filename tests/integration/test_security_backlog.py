"""Issue 14, item 12 ("bound every queue"): the delivery backlog.

A group message becomes one delivery per member device: queued first on
the ordered group push queue, then in the workers' inboxes.  Over
max_delivery_backlog queued deliveries, new sends are refused with 62080
(retry later, never acked, nothing stored) on the socket (1103, 2104) and
REST (message/send, group/sendMessage); what was accepted is still
delivered.  A fast sender to a big group of non-reading members builds the
backlog; a second client's PING and a fresh LOGIN are timed meanwhile."""
import json
import re
import threading
import time

import petrelproto as pp
from conftest import SLOW
from test_security_abuse import LatencyProbe, E_BUSY, GROUP_MSG_ACK, MSG_ACK, MSG_P2P, acks_of, msg

MSG_GROUP = 2104
N_SILENT = 240     # members online that never read
N_SENDS = 1500     # pipelined group sends
BOUND = 200        # --max-delivery-backlog


def metrics_text(s):
    st, _, body = pp.http_get(s.http_port, "/metrics", timeout=10 * SLOW)
    assert st == 200
    return body.decode()


def backlog(s):
    t = metrics_text(s)
    inbox = sum(int(v) for v in re.findall(r"^petrel_inbox_deliveries\{worker=\"\d+\"\} (\d+)$",
                                           t, re.M))
    gp = int(re.search(r"^petrel_gpush_queued (\d+)$", t, re.M).group(1))
    refused = int(re.search(r"^petrel_delivery_backlog_refusals_total (\d+)$", t, re.M).group(1))
    return inbox, gp, refused


def gmsg(gid, mid):
    return {"groupId": gid, "messageId": mid,
            "messageBody": json.dumps({"type": 1, "content": mid})}


def group_acks(c, n, timeout):
    return acks_of(c, n, timeout, GROUP_MSG_ACK)


def test_delivery_backlog_refuses_new_sends(server):
    s = server("--max-delivery-backlog=%d" % BOUND, "--send-rate-user=0",
               "--send-kbytes-user=0", "--send-rate-app=0")
    silent = ["sil%d" % i for i in range(N_SILENT)]
    readers = ["rd0", "rd1"]
    s.ensure_users(["boss", "solo"] + readers + silent)
    members = readers + silent
    st, d = s.api("/v1/group/createGroup",
                  {"groupType": 2, "groupName": "big",
                   "member": [{"memberId": m} for m in members]}, as_user="boss")
    assert st == 200 and d["code"] == 200, d
    gid = d["data"]["groupId"] if "data" in d else d["groupId"]

    boss = s.login("boss", imei="b")
    rd = [s.login("rd0", imei="r0"), s.login("rd1", imei="r1", transport="ws")]
    # the silent members: online, never read (their output stays queued)
    quiet = [s.login(u, imei="q") for u in silent]
    got = [set(), set()]
    stop = threading.Event()

    def reader(i):
        while not stop.is_set():
            try:
                p = rd[i].recv(timeout=0.2)
            except TimeoutError:
                continue
            if p.command == MSG_GROUP:
                got[i].add(p.data["messageId"])

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    try:
        _attack(s, gid, boss, quiet, got)
    finally:
        stop.set()
        for t in threads:
            t.join(5)


def _attack(s, gid, boss, quiet, got):
    rest = {}
    acks = {}
    with LatencyProbe(s) as probe:
        # rounds of pipelined group sends until the probe has its samples,
        # so they are all taken while the backlog builds and drains
        for r in range(6):
            boss.send_raw(b"".join(pp.encode_up(MSG_GROUP, gmsg(gid, "g%d-%d" % (r, i)))
                                   for i in range(N_SENDS)))
            # REST senders meanwhile: a group/sendMessage and a message/send
            # each, answered 200 or 503/62080
            for i in range(20):
                for path, body in (("/v1/group/sendMessage",
                                    {"groupId": gid, "fromId": "boss",
                                     "messageId": "api-g%d-%d" % (r, i), "messageBody": "x"}),
                                   ("/v1/message/send",
                                    {"fromId": "boss", "toId": "rd0",
                                     "messageId": "api-p%d-%d" % (r, i), "messageBody": "y"})):
                    rest[body["messageId"]] = s.api(path, body, as_user="admin")
            acks.update(group_acks(boss, N_SENDS, 60 * SLOW))
            if r >= 1 and probe.enough():
                break
    assert len(acks) >= 2 * N_SENDS
    probe.check()

    codes = set(acks.values())
    assert codes <= {200, E_BUSY}, codes
    ok = {m for m, c in acks.items() if c == 200}
    busy = [m for m, c in acks.items() if c == E_BUSY]
    assert busy, "no group send was refused with 62080"
    assert ok, "no group send went through"
    for mid, (st, doc) in rest.items():
        assert (st, doc["code"]) in ((200, 200), (503, E_BUSY)), (mid, st, doc)

    # every acked group message reaches the reading members, a refused one never
    api_ok = {m for m, (st, doc) in rest.items() if m.startswith("api-g") and st == 200}
    want = ok | api_ok
    deadline = time.monotonic() + 60 * SLOW
    while (got[0] != want or got[1] != want) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert got[0] == want and got[1] == want, (len(want), len(got[0]), len(got[1]))

    # the backlog drains to nothing once the silent members are gone
    for c in quiet:
        c.close()
    deadline = time.monotonic() + 30 * SLOW
    while time.monotonic() < deadline:
        inbox, gp, refused = backlog(s)
        if inbox == 0 and gp == 0:
            break
        time.sleep(0.1)
    assert (inbox, gp) == (0, 0), (inbox, gp)
    rest_busy = sum(1 for st, doc in rest.values() if st == 503)
    assert refused >= len(busy) + rest_busy
    assert re.search(r'^petrel_errors_total\{code="62080"\} (\d+)$', metrics_text(s), re.M)

    # retryable: a refused message goes through now, same messageId, once
    boss.send(MSG_GROUP, gmsg(gid, busy[0]))
    assert group_acks(boss, 1, 10 * SLOW) == {busy[0]: 200}
    solo = s.login("solo", imei="s")
    solo.send(MSG_P2P, msg("rd0", "after"))
    p = solo.recv(timeout=10 * SLOW)
    while p.command != MSG_ACK:
        p = solo.recv(timeout=10 * SLOW)
    assert p.data["code"] == 200, p
    st, doc = s.api("/v1/message/send", {"fromId": "boss", "toId": "rd0", "messageId": "late",
                                         "messageBody": "z"})
    assert (st, doc["code"]) == (200, 200), doc


def test_delivery_backlog_off(server):
    """--max-delivery-backlog=0: no bound; a burst is never refused with
    62080 for the backlog (the store queue is large enough here)."""
    s = server("--max-delivery-backlog=0", "--send-rate-user=0", "--send-kbytes-user=0",
               "--send-rate-app=0")
    members = ["m%d" % i for i in range(50)]
    s.ensure_users(["own"] + members)
    st, d = s.api("/v1/group/createGroup",
                  {"groupType": 2, "groupName": "g",
                   "member": [{"memberId": m} for m in members]}, as_user="own")
    assert st == 200 and d["code"] == 200, d
    gid = d["data"]["groupId"] if "data" in d else d["groupId"]
    own = s.login("own", imei="o")
    quiet = [s.login(u, imei="q") for u in members]
    own.send_raw(b"".join(pp.encode_up(MSG_GROUP, gmsg(gid, "x%d" % i)) for i in range(300)))
    acks = group_acks(own, 300, 30 * SLOW)
    assert set(acks.values()) == {200}
    assert backlog(s)[2] == 0
    for c in quiet:
        c.close()
