"""One-to-one messages (docs/PROTOCOL.md "One-to-one messages (1xxx)",
docs/API.md "Messages"): send / ack / fan-out over TCP and WebSocket,
receive acks, offline server acks, durability before the ack, idempotency
(also across a restart), concurrent senders, refusals, read receipts,
recall, the REST send, syncOfflineMessage paging, history and range.

The helpers at the top (Dev, mk, pipeline, REST wrappers...) are shared
with test_conversations.py and test_crash.py."""
import collections
import itertools
import json
import os
import threading
import time

import pytest

import petrelproto as pp
from conftest import SLOW

WEBAPI, WEB, IOS, ANDROID, WINDOWS, MAC = range(6)
CT_NAME = {0: "webapi", 1: "web", 2: "ios", 3: "android", 4: "windows", 5: "mac"}

MSG_ACK = 1046
MSG_RECALL = 1050
MSG_RECALL_ACK = 1051
MSG_RECALL_NOTIFY = 1052
MSG_READED_NOTIFY = 1053
MSG_READED_RECEIPT = 1054
MSG_RECALL_SYNC = 1055
MSG_P2P = 1103
MSG_READED = 1106
MSG_RECEIVE_ACK = 1107
MSG_P2P_SYNC = 1108
CONV_DELETE = 5000
CONV_UPDATE = 5001

PUSHES = {MSG_P2P, MSG_P2P_SYNC}
EPOCH_2024_MS = 1704067200000
QUIET = 0.4 * SLOW          # how long "nothing arrives" is watched


# ================================================================ devices
class Dev:
    """One logged-in device; keeps the packets it skipped in a backlog so
    take() can look for a command without losing the others."""

    def __init__(self, srv, user, ct=WEB, transport="tcp", imei=None):
        self.srv = srv
        self.user = user
        self.ct = ct
        self.transport = transport
        self.imei = imei or "%s-%s-%s" % (user, CT_NAME[ct], transport)
        self.name = "%s/%s/%s" % (user, CT_NAME[ct], transport)
        self.c = srv.login(user, client_type=ct, imei=self.imei, transport=transport)
        self.backlog = []

    def __repr__(self):
        return "Dev(%s)" % self.name

    # ---------------------------------------------------------------- sending
    def frame(self, cmd, body):
        raw = pp.encode_up(cmd, body, client_type=self.ct, imei=self.imei)
        return pp.ws_frame(pp.OP_BINARY, raw) if self.transport == "ws" else raw

    def send(self, cmd, body):
        self.c.send_raw(self.frame(cmd, body))

    def send_many(self, items):
        self.c.send_raw(b"".join(self.frame(cmd, body) for cmd, body in items))

    # -------------------------------------------------------------- receiving
    def recv(self, timeout):
        """Next packet other than a PING; TimeoutError / ConnectionClosed."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.c.recv(max(0.001, deadline - time.monotonic()))
            if p.command != pp.PING:
                return p

    def take(self, cmd, pred=None, timeout=None, what=None):
        """The first packet with `cmd` (and pred(packet)), from the backlog
        or the wire; everything else read meanwhile goes to the backlog."""
        ok = lambda p: p.command == cmd and (pred is None or pred(p))  # noqa: E731
        for i, p in enumerate(self.backlog):
            if ok(p):
                return self.backlog.pop(i)
        t = 5.0 * SLOW if timeout is None else timeout
        deadline = time.monotonic() + t
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                p = self.recv(remaining)
            except TimeoutError:
                raise AssertionError("%s: no %d%s within %.1fs; other packets: %r"
                                     % (self.name, cmd, " (%s)" % what if what else "",
                                        t, self.backlog[-8:]))
            except pp.ConnectionClosed as e:
                raise AssertionError("%s: connection closed (%s) while waiting for %d; "
                                     "packets: %r" % (self.name, e, cmd, self.backlog[-8:]))
            if ok(p):
                return p
            self.backlog.append(p)

    def take_ack(self, mid, timeout=None):
        return self.take(MSG_ACK, lambda p: ack_mid(p) == mid, timeout, "ack of %r" % mid)

    def drain(self, wait=QUIET):
        """Read for `wait` seconds into the backlog."""
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self.backlog.append(self.recv(remaining))
            except TimeoutError:
                return

    def expect_none(self, cmds, wait=QUIET, pred=None):
        """No packet with a command in cmds (and pred) is pending or
        arrives within `wait`."""
        self.drain(wait)
        bad = [p for p in self.backlog if p.command in cmds and (pred is None or pred(p))]
        assert not bad, "%s got unexpected packets: %r" % (self.name, bad)

    def close(self):
        self.c.close()


def ack_mid(p):
    d = p.data if isinstance(p.data, dict) else {}
    dd = d.get("data")
    return dd.get("messageId") if isinstance(dd, dict) else None


def push_data(p):
    """Recall notifications carry 'the same data' as the 1051 answer; accept
    the data object at the top level or under "data" (ambiguous in the docs)."""
    d = p.data
    if isinstance(d, dict) and isinstance(d.get("data"), dict) and "messageKey" not in d:
        return d["data"]
    return d


# =============================================================== messages
_seq = itertools.count(1)
_run = "%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000000)


def mk(to, mid=None, body=None, **kw):
    """A 1103 body from the spec's example."""
    n = next(_seq)
    m = {"messageId": mid if mid is not None else "m-%s-%d" % (_run, n),
         "toId": to,
         "messageBody": body if body is not None
         else json.dumps({"type": 1, "content": "hello %d" % n}),
         "messageTime": int(time.time() * 1000),
         "messageRandom": n}
    m.update(kw)
    return m


def body_equal(got, sent):
    """messageBody is opaque: text comes back as the same text; an object
    may come back as the object or as its JSON text."""
    if isinstance(sent, str):
        return got == sent
    if got == sent:
        return True
    if isinstance(got, str):
        try:
            return json.loads(got) == sent
        except ValueError:
            return False
    return False


def check_ack(p, mid, to):
    """A successful 1046 -> its data."""
    assert p.command == MSG_ACK, p
    d = p.data
    assert isinstance(d, dict) and d.get("code") == 200, "ack of %r not 200: %r" % (mid, p)
    dd = d.get("data")
    assert isinstance(dd, dict), "ack without data: %r" % p
    assert dd.get("messageId") == mid, "ack messageId: %r (sent %r)" % (dd, mid)
    assert dd.get("toId") == to, "ack toId: %r (sent to %r)" % (dd, to)
    assert isinstance(dd.get("messageKey"), int) and dd["messageKey"] > 0, dd
    assert isinstance(dd.get("messageSequence"), int) and dd["messageSequence"] > 0, dd
    assert isinstance(dd.get("serverTime"), int), dd
    return dd


def check_refused(p, code, mid=None):
    assert p.command == MSG_ACK, "expected a 1046 refusal %d, got %r" % (code, p)
    assert isinstance(p.data, dict) and p.data.get("code") == code, \
        "expected ack code %d, got %r" % (code, p)
    assert isinstance(p.data.get("msg"), str), p
    if mid is not None:
        assert ack_mid(p) == mid, "refusal without data.messageId %r: %r" % (mid, p)
    return p.data


def check_msg(p, cmd, m, frm, ack, sender=None):
    """A pushed 1103/1108 is the stored message."""
    assert p.command == cmd, "expected %d, got %r" % (cmd, p)
    d = p.data
    want = {"appId": pp.APP_ID, "fromId": frm, "toId": m["toId"],
            "messageId": m["messageId"], "messageKey": ack["messageKey"],
            "messageSequence": ack["messageSequence"]}
    if "messageTime" in m:
        want["messageTime"] = m["messageTime"]
    if "messageRandom" in m:
        want["messageRandom"] = m["messageRandom"]
    if sender is not None:
        want["clientType"] = sender.ct
        want["imei"] = ""               # no device id to others (docs/SECURITY.md)
    got = {k: d.get(k) for k in want}
    assert got == want, "%d content %r, expected %r" % (cmd, d, want)
    assert body_equal(d.get("messageBody"), m["messageBody"]), \
        "%d messageBody %r, sent %r" % (cmd, d.get("messageBody"), m["messageBody"])
    assert isinstance(d.get("serverTime"), int), d
    return d


def send_ok(dev, to, **kw):
    m = mk(to, **kw)
    dev.send(MSG_P2P, m)
    return m, check_ack(dev.take_ack(m["messageId"]), m["messageId"], to)


def pipeline(dev, msgs, window=200, chunk=100, on_ack=None, timeout=None,
             until_closed=False):
    """Send msgs (1103 bodies) with up to `window` unacked; returns
    (acks {messageId: ack packet data}, other packets, closed exception or
    None).  on_ack(n_acks) runs after each ack.  With until_closed a closed
    connection ends the run instead of failing it."""
    t = (30.0 if timeout is None else timeout) * SLOW
    acks, others = {}, []
    sent = 0
    n = len(msgs)
    while len(acks) < n:
        if sent < n and sent - len(acks) < window:
            k = min(n - sent, window - (sent - len(acks)), chunk)
            try:
                dev.send_many([(MSG_P2P, msgs[i]) for i in range(sent, sent + k)])
            except OSError as e:
                if until_closed:
                    return acks, others, e
                raise
            sent += k
            continue
        try:
            p = dev.c.recv(t)
        except TimeoutError:
            raise AssertionError("%s: %d of %d acks after %d sent, then nothing for %.0fs"
                                 % (dev.name, len(acks), n, sent, t))
        except (pp.ConnectionClosed, OSError, pp.ProtocolViolation) as e:
            if until_closed:
                return acks, others, e
            raise
        if p.command == MSG_ACK:
            mid = ack_mid(p)
            assert mid not in acks, "%s: two acks for %r: %r / %r" % (dev.name, mid, acks[mid], p.data)
            acks[mid] = p.data
            if on_ack:
                on_ack(len(acks))
        elif p.command != pp.PING:
            others.append(p)
    return acks, others, None


# =================================================================== REST
def api_ok(srv, path, body, as_user="admin"):
    st, doc = srv.api(path, body, as_user=as_user)
    assert st == 200 and doc.get("code") == 200, \
        "%s as %s %r -> HTTP %d %r" % (path, as_user, body, st, doc)
    return doc.get("data")


def page_list(data, what):
    """Rows of a paged answer: "dataList" (as the sync endpoints), else the
    only list in the object (the history answers' shape is not spelled out
    in docs/API.md)."""
    assert isinstance(data, dict), "%s: data is not an object: %r" % (what, data)
    if isinstance(data.get("dataList"), list):
        return data["dataList"]
    lists = [v for v in data.values() if isinstance(v, list)]
    assert len(lists) == 1, "%s: cannot find the rows in %r" % (what, data)
    return lists[0]


def history(srv, owner, peer, seq=0, is_gt=None, limit=None):
    body = {"toId": peer, "messageSequence": seq}
    if is_gt is not None:
        body["isGt"] = is_gt
    if limit is not None:
        body["limit"] = limit
    d = api_ok(srv, "/v1/message/queryP2pMessageHistory", body, as_user=owner)
    return page_list(d, "queryP2pMessageHistory"), d.get("hasMore")


def msg_range(srv, owner, peer, frm, to=0, limit=None):
    body = {"toId": peer, "fromSequence": frm, "toSequence": to}
    if limit is not None:
        body["limit"] = limit
    d = api_ok(srv, "/v1/message/getP2pMessageRange", body, as_user=owner)
    return d if isinstance(d, list) else page_list(d, "getP2pMessageRange")


def sync_page(srv, owner, last, limit=100):
    d = api_ok(srv, "/v1/message/syncOfflineMessage",
               {"lastSequence": last, "maxLimit": limit}, as_user=owner)
    for k in ("maxSequence", "lastSequence", "completed", "dataList"):
        assert k in d, "syncOfflineMessage answer without %s: %r" % (k, str(d)[:300])
    return d


def sync_all(srv, owner, limit=200):
    """Every message of owner through syncOfflineMessage paging."""
    rows, last = [], 0
    for _ in range(100000):
        d = sync_page(srv, owner, last, limit)
        page = d["dataList"]
        rows += page
        if d["completed"]:
            return rows
        assert page, "syncOfflineMessage: empty page but completed false: %r" % d
        assert d["lastSequence"] > last, "syncOfflineMessage does not advance: %r" % d
        last = d["lastSequence"]
    raise AssertionError("syncOfflineMessage never completed")


def conv_page(srv, owner, last=0, limit=100):
    d = api_ok(srv, "/v1/conversation/syncConversationList",
               {"lastSequence": last, "maxLimit": limit}, as_user=owner)
    for k in ("maxSequence", "completed", "dataList"):
        assert k in d, "syncConversationList answer without %s: %r" % (k, d)
    return d


def conv_of(srv, owner, peer):
    """owner's conversation row with peer from a full sync (or None)."""
    cid = "0_%s_%s" % (owner, peer)
    rows = [r for r in conv_page(srv, owner)["dataList"] if r.get("conversationId") == cid]
    assert len(rows) <= 1, "conversation %s listed twice: %r" % (cid, rows)
    return rows[0] if rows else None


def rows_by_seq(rows):
    return [r.get("messageSequence") for r in rows]


# ======================================================= send and fan-out
@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_send_fanout_and_receive_ack(srv, transport):
    other = "ws" if transport == "tcp" else "tcp"
    a_send = Dev(srv, "alice", WEB, transport)
    a_ios = Dev(srv, "alice", IOS, other)
    a_win = Dev(srv, "alice", WINDOWS, transport)
    bobs = [Dev(srv, "bob", WEB, "ws"), Dev(srv, "bob", IOS, "tcp"),
            Dev(srv, "bob", WINDOWS, "ws")]
    carol = Dev(srv, "carol", WEB, "tcp")
    t0 = int(time.time() * 1000)
    keys = []
    # the body as JSON text, then as a JSON object
    for i, body in ((1, json.dumps({"type": 1, "content": "hello"})),
                    (2, {"type": 1, "content": "h\u00e9llo \u2603"})):
        m = mk("bob", body=body)
        a_send.send(MSG_P2P, m)
        ack = check_ack(a_send.take_ack(m["messageId"]), m["messageId"], "bob")
        assert ack["messageSequence"] == i, "message %d got sequence %r" % (i, ack)
        keys.append(ack["messageKey"])
        # messageKey = (ms since 2024-01-01) << 22 | node_id << 12 | counter
        k = ack["messageKey"]
        assert (k >> 12) & 1023 == 1, "messageKey %d: node id %d, expected 1" % (k, (k >> 12) & 1023)
        assert t0 - 60000 <= (k >> 22) + EPOCH_2024_MS <= int(time.time() * 1000) + 60000, \
            "messageKey %d: time part is not now" % k
        for b in bobs:
            check_msg(b.take(MSG_P2P), MSG_P2P, m, "alice", ack, a_send)
        for o in (a_ios, a_win):
            check_msg(o.take(MSG_P2P_SYNC), MSG_P2P_SYNC, m, "alice", ack, a_send)
    assert keys[1] > keys[0], "messageKeys not increasing: %r" % keys
    # exactly one copy each; nothing to the sending device; nothing to carol
    a_send.expect_none(PUSHES)
    for d in bobs + [a_ios, a_win, carol]:
        d.expect_none(PUSHES, wait=0.05)

    # bob's receive ack goes to every alice device, fromId set to bob
    bobs[1].send(MSG_RECEIVE_ACK, {"toId": "alice", "messageKey": keys[1], "messageSequence": 2})
    for a in (a_send, a_ios, a_win):
        p = a.take(MSG_RECEIVE_ACK)
        got = {k: p.data.get(k) for k in ("fromId", "messageKey", "messageSequence")}
        assert got == {"fromId": "bob", "messageKey": keys[1], "messageSequence": 2}, \
            "%s: forwarded 1107 %r" % (a.name, p.data)
        assert not p.data.get("serverSend"), "bob is online, 1107 must be his: %r" % p.data
    for a in (a_send, a_ios, a_win):
        a.expect_none({MSG_RECEIVE_ACK}, wait=0.1)
    carol.expect_none({MSG_RECEIVE_ACK}, wait=0.05)


def test_receiver_offline_gets_server_receive_ack(srv):
    a_send = Dev(srv, "alice", WEB, "tcp")
    a_ios = Dev(srv, "alice", IOS, "ws")
    m = mk("bob")
    a_send.send(MSG_P2P, m)
    ack = check_ack(a_send.take_ack(m["messageId"]), m["messageId"], "bob")
    p = a_send.take(MSG_RECEIVE_ACK)
    assert p.data.get("serverSend") is True, "1107 without serverSend true: %r" % p.data
    assert p.data.get("messageKey") == ack["messageKey"], (p.data, ack)
    assert p.data.get("messageSequence") == ack["messageSequence"], (p.data, ack)
    check_msg(a_ios.take(MSG_P2P_SYNC), MSG_P2P_SYNC, m, "alice", ack, a_send)
    a_send.expect_none({MSG_RECEIVE_ACK}, wait=0.1)
    # bob finds it when he syncs
    rows = sync_page(srv, "bob", 0)["dataList"]
    assert [(r.get("messageId"), r.get("messageKey")) for r in rows] == \
        [(m["messageId"], ack["messageKey"])], rows


def test_ack_only_after_visible_in_history(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    Dev(srv, "bob", WEB, "ws")
    for i in range(1, 26):
        m, ack = send_ok(a, "bob")
        for owner, peer in (("alice", "bob"), ("bob", "alice")):
            rows = msg_range(srv, owner, peer, i, i)
            assert [(r.get("messageId"), r.get("messageKey"), r.get("messageSequence"))
                    for r in rows] == [(m["messageId"], ack["messageKey"], i)], \
                "right after ack %d, %s's range %d..%d: %r" % (i, owner, i, i, rows)
        rows, _ = history(srv, "bob", "alice", 0, limit=1)
        assert [r.get("messageKey") for r in rows] == [ack["messageKey"]], rows


# =========================================================== idempotency
def test_resend_same_message_id_is_acked_once_delivered_once(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    a2 = Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WEB, "ws")
    m, ack = send_ok(a, "bob")
    check_msg(b.take(MSG_P2P), MSG_P2P, m, "alice", ack, a)
    a2.take(MSG_P2P_SYNC)
    # plain resend, from the same device and from another device of alice
    for dev in (a, a2, a):
        dev.send(MSG_P2P, m)
        again = check_ack(dev.take_ack(m["messageId"]), m["messageId"], "bob")
        assert (again["messageKey"], again["messageSequence"]) == \
            (ack["messageKey"], ack["messageSequence"]), "resend ack %r, original %r" % (again, ack)
    # two copies back to back (the second arrives while the first is in flight)
    m2 = mk("bob")
    a.send_many([(MSG_P2P, m2), (MSG_P2P, m2)])
    x = check_ack(a.take_ack(m2["messageId"]), m2["messageId"], "bob")
    y = check_ack(a.take_ack(m2["messageId"]), m2["messageId"], "bob")
    assert (x["messageKey"], x["messageSequence"]) == (y["messageKey"], y["messageSequence"]) \
        == (x["messageKey"], 2), (x, y)
    # a sentinel: bob's next 1103 after m2 must be it, not a second copy
    m3, ack3 = send_ok(a, "bob")
    assert ack3["messageSequence"] == 3, ack3
    check_msg(b.take(MSG_P2P), MSG_P2P, m2, "alice", x, a)
    check_msg(b.take(MSG_P2P), MSG_P2P, m3, "alice", ack3, a)
    b.expect_none(PUSHES)
    rows = msg_range(srv, "alice", "bob", 1)
    assert [r.get("messageId") for r in rows] == [m["messageId"], m2["messageId"], m3["messageId"]], rows


def test_resend_after_restart_same_ack_no_copy_sequences_continue(server):
    s1 = server()
    s1.ensure_users(["alice", "bob"])
    a = Dev(s1, "alice", WEB, "tcp")
    sent = [send_ok(a, "bob") for _ in range(3)]
    assert [ack["messageSequence"] for _, ack in sent] == [1, 2, 3], sent
    assert s1.stop() == 0, "petreld exited with %s after SIGTERM" % s1.returncode

    s2 = server(data_dir=s1.data_dir, app_secret=s1.secret)
    s2.ensure_users(["alice", "bob"])
    a = Dev(s2, "alice", WEB, "tcp")
    b = Dev(s2, "bob", IOS, "ws")
    for m, ack in sent[::-1]:
        a.send(MSG_P2P, m)
        again = check_ack(a.take_ack(m["messageId"]), m["messageId"], "bob")
        assert (again["messageKey"], again["messageSequence"]) == \
            (ack["messageKey"], ack["messageSequence"]), \
            "resend after restart acked %r, original %r" % (again, ack)
    # sequences continue after the restart; the resends were not delivered
    m4, ack4 = send_ok(a, "bob")
    assert ack4["messageSequence"] == 4, "first new message after restart: %r" % ack4
    assert ack4["messageKey"] > sent[-1][1]["messageKey"], (ack4, sent[-1][1])
    check_msg(b.take(MSG_P2P), MSG_P2P, m4, "alice", ack4, a)
    b.expect_none(PUSHES)
    rows = msg_range(s2, "bob", "alice", 1)
    assert [(r.get("messageId"), r.get("messageSequence")) for r in rows] == \
        [(m["messageId"], i + 1) for i, (m, _) in enumerate(sent + [(m4, ack4)])], rows


# ============================================================ concurrency
def test_concurrent_senders_sequences_dense_and_ordered(srv):
    N_EACH = 200
    devs = [Dev(srv, "alice", WEB, "tcp"), Dev(srv, "alice", IOS, "ws"),
            Dev(srv, "bob", WEB, "tcp"), Dev(srv, "bob", IOS, "ws")]
    peer = {"alice": "bob", "bob": "alice"}
    msgs = {d.name: [mk(peer[d.user], mid="cc-%s-%d" % (d.name, i)) for i in range(N_EACH)]
            for d in devs}
    results, errors = {}, []
    go = threading.Barrier(len(devs))
    expect_pushes = 3 * N_EACH   # 2 x N from the peer's devices (1103), N from the sibling (1108)

    def run(d):
        try:
            go.wait()
            acks, others, _ = pipeline(d, msgs[d.name], window=50, chunk=25)
            pushes = [p for p in others if p.command in PUSHES]
            deadline = time.monotonic() + 30 * SLOW
            while len(pushes) < expect_pushes and time.monotonic() < deadline:
                try:
                    p = d.recv(max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
                if p.command in PUSHES:
                    pushes.append(p)
                else:
                    others.append(p)
            results[d.name] = (acks, pushes, [p for p in others if p.command not in PUSHES])
        except BaseException as e:  # noqa: B902 - reported below
            errors.append((d.name, e))

    threads = [threading.Thread(target=run, args=(d,)) for d in devs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120 * SLOW)
    assert not errors, errors
    assert len(results) == len(devs), "a sender thread hung"

    by_mid = {}
    for d in devs:
        acks, _, _ = results[d.name]
        for mid, a in acks.items():
            assert a.get("code") == 200, "%s: refused %r" % (d.name, a)
            by_mid[mid] = (a["data"]["messageKey"], a["data"]["messageSequence"])
    total = N_EACH * len(devs)
    assert len(by_mid) == total
    seqs = sorted(s for _, s in by_mid.values())
    assert seqs == list(range(1, total + 1)), \
        "acked sequences are not exactly 1..%d: dups %r, missing %r" % (
            total, [s for s, c in collections.Counter(seqs).items() if c > 1][:10],
            sorted(set(range(1, total + 1)) - set(seqs))[:10])
    assert len({k for k, _ in by_mid.values()}) == total, "messageKeys not unique"

    for d in devs:
        _, pushes, _ = results[d.name]
        own = set(m["messageId"] for m in msgs[d.name])
        want = set(by_mid) - own
        got = [p.data.get("messageId") for p in pushes]
        assert len(got) == len(set(got)), "%s received a message twice: %r" % (
            d.name, [x for x, c in collections.Counter(got).items() if c > 1][:5])
        assert set(got) == want, "%s: %d pushes, %d missing, %d unexpected" % (
            d.name, len(got), len(want - set(got)), len(set(got) - want))
        for p in pushes:
            mid = p.data["messageId"]
            mine = mid.startswith("cc-%s/" % d.user)
            assert p.command == (MSG_P2P_SYNC if mine else MSG_P2P), \
                "%s: %r came as %d" % (d.name, mid, p.command)
            assert (p.data.get("messageKey"), p.data.get("messageSequence")) == by_mid[mid], p
        s = [p.data["messageSequence"] for p in pushes]
        bad = [(s[i], s[i + 1]) for i in range(len(s) - 1) if s[i] >= s[i + 1]]
        assert not bad, "%s: pushed sequences not strictly increasing, e.g. %r" % (d.name, bad[:5])

    for owner, other in (("alice", "bob"), ("bob", "alice")):
        rows = []
        for frm in range(1, total + 1, 200):
            rows += msg_range(srv, owner, other, frm, frm + 199, limit=200)
        assert rows_by_seq(rows) == list(range(1, total + 1)), \
            "%s's history sequences are not 1..%d" % (owner, total)
        mids = [r.get("messageId") for r in rows]
        assert sorted(mids) == sorted(by_mid), "%s's history messageIds differ from the acked" % owner
        for r in rows:
            assert (r["messageKey"], r["messageSequence"]) == by_mid[r["messageId"]], r


# ================================================================ refusals
def test_refusals_in_the_ack(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "ws")
    cases = [
        (mk("nobody-such"), 20001),
        (mk("alice"), 90001),                                        # to yourself
        (mk("bob", mid="x" * 129), 90001),                           # messageId > 128 bytes
        (mk("bob", mid=""), 90001),                                  # empty messageId
        (mk("bob", body="x" * 33000), 90001),                        # body > 32 KiB
        (mk("bob", body={"type": 1, "content": "y" * 33000}), 90001),
    ]
    for m, code in cases:
        a.send(MSG_P2P, m)
        mid = m["messageId"]
        check_refused(a.take(MSG_ACK), code, mid if isinstance(mid, str) and 0 < len(mid) <= 128 else None)
    for m in (mk("bob"), mk(None)):         # messageId missing, toId missing
        del m["messageId" if m["toId"] else "toId"]
        a.send(MSG_P2P, m)
        check_refused(a.take(MSG_ACK), 90001)
    # 30,000 bytes of body is fine
    big, ack = send_ok(a, "bob", body="z" * 30000)
    check_msg(b.take(MSG_P2P), MSG_P2P, big, "alice", ack, a)
    assert ack["messageSequence"] == 1, ack

    # spoofed fromId: error 61007, connection kept, nothing stored or sent
    m = mk("bob", fromId="bob")
    a.send(MSG_P2P, m)
    a.c.expect_error(pp.E_FROM_MISMATCH, closes=False, command=MSG_P2P)
    a.expect_none({MSG_ACK})
    b.expect_none(PUSHES, wait=0.05)
    assert [r.get("messageSequence") for r in msg_range(srv, "alice", "bob", 1)] == [1]

    # a body that is not a JSON object closes the connection
    for bad in (b"[1,2]", b'"hello"', b"42"):
        c = Dev(srv, "carol", WEB, "tcp")
        c.c.send(MSG_P2P, bad, client_type=WEB, imei=c.imei)
        c.c.expect_error(pp.E_BAD_JSON, closes=True, command=MSG_P2P)
    b.expect_none(PUSHES, wait=0.05)


def test_silenced_sender_and_deleted_receiver(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "ws")
    api_ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", "silentFlag": 1})
    m = mk("bob")
    a.send(MSG_P2P, m)
    check_refused(a.take(MSG_ACK), 50002, m["messageId"])
    b.expect_none(PUSHES)
    api_ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", "silentFlag": 0})
    m1, ack1 = send_ok(a, "bob")
    assert ack1["messageSequence"] == 1, "a refused message used a sequence: %r" % ack1
    # a refusal is not remembered as the message: the same messageId now goes through
    a.send(MSG_P2P, m)
    ack = check_ack(a.take_ack(m["messageId"]), m["messageId"], "bob")
    assert ack["messageSequence"] == 2, ack

    c = Dev(srv, "carol", WEB, "tcp")
    api_ok(srv, "/v1/user/deleteUser", {"userId": ["bob"]})
    m = mk("bob")
    c.send(MSG_P2P, m)
    check_refused(c.take(MSG_ACK), 20001, m["messageId"])
    assert not [r for r in sync_page(srv, "carol", 0)["dataList"]], "refused message stored"


# =========================================================== read receipts
def test_read_receipts(srv):
    a1 = Dev(srv, "alice", WEB, "tcp")
    a2 = Dev(srv, "alice", IOS, "ws")
    b1 = Dev(srv, "bob", WEB, "ws")
    b2 = Dev(srv, "bob", WINDOWS, "tcp")
    for _ in range(5):
        send_ok(a1, "bob")
    alice_before = conv_of(srv, "alice", "bob")
    assert alice_before is not None
    READS = {MSG_READED_NOTIFY, MSG_READED_RECEIPT}

    def read(seq):
        b1.send(MSG_READED, {"toId": "alice", "conversationType": 0, "messageSequence": seq})

    def pushed(seq):
        want = {"messageSequence": seq, "fromId": "bob", "toId": "alice", "conversationType": 0}
        p = b2.take(MSG_READED_NOTIFY)
        assert {k: p.data.get(k) for k in want} == want, "1053 to bob's other device: %r" % p.data
        for a in (a1, a2):
            p = a.take(MSG_READED_RECEIPT)
            assert {k: p.data.get(k) for k in want} == want, "1054 to %s: %r" % (a.name, p.data)

    read(3)
    pushed(3)
    b1.expect_none(READS, wait=0.1)
    conv = conv_of(srv, "bob", "alice")
    assert conv and conv.get("readedSequence") == 3 and conv.get("unreadCount") == 2, conv
    # backwards: nothing moves, nothing is pushed (the next push must be 4's)
    read(2)
    conv = conv_of(srv, "bob", "alice")
    assert conv.get("readedSequence") == 3, "read sequence moved back: %r" % conv
    read(3)   # not a move either
    read(4)
    pushed(4)
    # beyond the last message: clamped to it
    read(999)
    pushed(5)
    for d in (a1, a2, b2):
        d.expect_none(READS)
    b1.expect_none(READS, wait=0.05)
    conv = conv_of(srv, "bob", "alice")
    assert conv.get("readedSequence") == 5 and conv.get("unreadCount") == 0, conv
    assert conv.get("lastSequence") == 5, conv
    mine = conv_of(srv, "alice", "bob")
    assert mine.get("readedSequence") == alice_before.get("readedSequence"), \
        "bob's reading moved alice's read sequence: %r, before %r" % (mine, alice_before)


# ================================================================== recall
def recall_ok_data(p, m, ack, frm="alice"):
    want = {"fromId": frm, "toId": m["toId"], "messageKey": ack["messageKey"],
            "messageSequence": ack["messageSequence"], "conversationType": 0}
    d = push_data(p)
    assert {k: d.get(k) for k in want} == want, "%d data %r, expected %r" % (p.command, p.data, want)


def recall(dev, key):
    dev.send(MSG_RECALL, {"messageKey": key})
    p = dev.take(MSG_RECALL_ACK)
    assert isinstance(p.data, dict) and isinstance(p.data.get("code"), int), p
    return p


def test_recall(srv):
    a1 = Dev(srv, "alice", WEB, "tcp")
    a2 = Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WEB, "ws")
    m, ack = send_ok(a1, "bob")
    m2, ack2 = send_ok(a1, "bob")
    m3, ack3 = send_ok(a1, "bob")
    for _ in range(3):
        b.take(MSG_P2P)
        a2.take(MSG_P2P_SYNC)

    p = recall(a1, ack["messageKey"])
    assert p.data["code"] == 200, "recall by the sender: %r" % p.data
    recall_ok_data(p, m, ack)
    recall_ok_data(a2.take(MSG_RECALL_SYNC), m, ack)
    recall_ok_data(b.take(MSG_RECALL_NOTIFY), m, ack)
    a1.expect_none({MSG_RECALL_SYNC, MSG_RECALL_NOTIFY}, wait=0.1)

    assert recall(a2, ack["messageKey"]).data["code"] == 50005, "second recall"
    assert recall(b, ack2["messageKey"]).data["code"] == 60006, "bob recalling alice's message"
    assert recall(a1, 12345).data["code"] == 50003, "unknown messageKey"
    b.expect_none({MSG_RECALL_NOTIFY})
    a2.expect_none({MSG_RECALL_SYNC}, wait=0.05)

    # the app admin may recall anybody's message
    adm = Dev(srv, "admin", WEB, "tcp")
    p = recall(adm, ack2["messageKey"])
    assert p.data["code"] == 200, "recall by the admin: %r" % p.data
    recall_ok_data(p, m2, ack2)
    recall_ok_data(b.take(MSG_RECALL_NOTIFY), m2, ack2)
    # alice's devices must learn it too (1055 or 1052: the docs do not say
    # which one the sender gets when the admin recalls)
    for a in (a1, a2):
        a.drain(0.5 * SLOW)
        got = [x for x in a.backlog if x.command in (MSG_RECALL_NOTIFY, MSG_RECALL_SYNC)
               and push_data(x).get("messageKey") == ack2["messageKey"]]
        assert len(got) == 1, "%s: notices of the admin's recall: %r" % (a.name, a.backlog)
        recall_ok_data(got[0], m2, ack2)

    # history and sync: delFlag 1 and no messageBody
    for owner, peer in (("alice", "bob"), ("bob", "alice")):
        rows = msg_range(srv, owner, peer, 1)
        hist, _ = history(srv, owner, peer, 0)
        synced = sync_page(srv, owner, 0)["dataList"]
        for where, rs in (("range", rows), ("history", hist), ("sync", synced)):
            by_key = {r.get("messageKey"): r for r in rs}
            assert set(by_key) == {ack["messageKey"], ack2["messageKey"], ack3["messageKey"]}, (where, rs)
            for k in (ack["messageKey"], ack2["messageKey"]):
                r = by_key[k]
                assert r.get("delFlag") == 1 and r.get("messageBody") is None, \
                    "%s of %s: recalled message %r" % (where, owner, r)
            r = by_key[ack3["messageKey"]]
            assert r.get("delFlag") == 0 and body_equal(r.get("messageBody"), m3["messageBody"]), \
                "%s of %s: %r" % (where, owner, r)
    # a resend of a recalled message's id does not bring it back
    a1.send(MSG_P2P, m)
    again = check_ack(a1.take_ack(m["messageId"]), m["messageId"], "bob")
    assert again["messageKey"] == ack["messageKey"], again
    b.expect_none(PUSHES)


def test_recall_window(server):
    s = server("--recall-window-ms=300")
    s.ensure_users(["alice", "bob"])
    a = Dev(s, "alice", WEB, "tcp")
    _, old = send_ok(a, "bob")
    time.sleep(0.6)
    p = recall(a, old["messageKey"])
    assert p.data["code"] == 50004, "recall 0.6 s after, window 300 ms: %r" % p.data
    _, fresh = send_ok(a, "bob")
    p = recall(a, fresh["messageKey"])
    assert p.data["code"] == 200, "recall right after sending, window 300 ms: %r" % p.data


# ================================================================ REST send
def test_rest_send_as_admin(srv):
    a1 = Dev(srv, "alice", WEB, "tcp")
    a2 = Dev(srv, "alice", IOS, "ws")
    b = Dev(srv, "bob", WEB, "ws")
    body = {"fromId": "alice", "toId": "bob", "messageId": "rest-1",
            "messageBody": {"type": 1, "content": "hi"}, "messageTime": 1795425600000,
            "messageRandom": 7}
    d = api_ok(srv, "/v1/message/send", body)
    assert d.get("messageId") == "rest-1" and d.get("messageSequence") == 1 \
        and d.get("duplicate") is False and isinstance(d.get("messageKey"), int) \
        and d.get("messageTime") == 1795425600000, d
    ack = {"messageKey": d["messageKey"], "messageSequence": 1}
    check_msg(b.take(MSG_P2P), MSG_P2P, body, "alice", ack)
    for a in (a1, a2):
        check_msg(a.take(MSG_P2P_SYNC), MSG_P2P_SYNC, body, "alice", ack)
    # idempotent on messageId
    d2 = api_ok(srv, "/v1/message/send", body)
    assert (d2.get("messageKey"), d2.get("messageSequence"), d2.get("duplicate")) == \
        (d["messageKey"], 1, True), d2
    # a user may send as himself through REST
    d3 = api_ok(srv, "/v1/message/send", {"fromId": "bob", "toId": "alice", "messageId": "rest-2",
                                           "messageBody": "yo"}, as_user="bob")
    assert d3.get("messageSequence") == 2, d3
    p = b.take(MSG_P2P_SYNC)
    assert p.data.get("messageId") == "rest-2", p
    b.expect_none({MSG_P2P})     # no second copy of rest-1
    for a in (a1, a2):
        p = a.take(MSG_P2P)
        assert (p.data.get("messageId"), p.data.get("messageSequence")) == ("rest-2", 2), p
        a.expect_none(PUSHES, wait=0.05)
    # ... but not as somebody else
    for who in ("carol", "bob"):
        st, doc = srv.api("/v1/message/send", {"fromId": "alice", "toId": "carol",
                                               "messageId": "evil", "messageBody": "x"}, as_user=who)
        assert (st, doc.get("code")) == (403, 60006), "%s sending as alice: %d %r" % (who, st, doc)
    assert sync_page(srv, "carol", 0)["dataList"] == [], "a refused REST send was stored"
    assert len(msg_range(srv, "alice", "bob", 1)) == 2
    # a generated messageId when none is given
    d4 = api_ok(srv, "/v1/message/send", {"fromId": "alice", "toId": "bob", "messageBody": "gen"})
    assert d4.get("messageSequence") == 3 and d4.get("messageId"), d4
    assert d4.get("duplicate") is False, d4


# ==================================================== syncOfflineMessage
def test_sync_offline_message_paging(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "tcp")
    c = Dev(srv, "carol", WEB, "tcp")
    plan = [(a, "bob", 100), (b, "alice", 50), (a, "carol", 50), (c, "alice", 50),
            (b, "carol", 20)]        # the last 20 are not alice's
    alice_keys = {}
    for dev, to, n in plan:
        msgs = [mk(to) for _ in range(n)]
        acks, _, _ = pipeline(dev, msgs, window=100)
        for mid, x in acks.items():
            assert x.get("code") == 200, x
            if "alice" in (dev.user, to):
                alice_keys[mid] = x["data"]["messageKey"]
    assert len(alice_keys) == 250
    maxkey = max(alice_keys.values())

    seen, last, pages = [], 0, []
    for _ in range(10):
        d = sync_page(srv, "alice", last, 100)
        pages.append((len(d["dataList"]), d["completed"]))
        assert d["maxSequence"] == maxkey, "maxSequence %r, largest key %r" % (d["maxSequence"], maxkey)
        keys = [r.get("messageKey") for r in d["dataList"]]
        assert keys == sorted(keys) and all(k > last for k in keys), "page not after %d / not ordered" % last
        if keys:
            assert d["lastSequence"] == keys[-1], "lastSequence %r, last key %r" % (d["lastSequence"], keys[-1])
        seen += d["dataList"]
        if d["completed"]:
            break
        last = d["lastSequence"]
    assert pages == [(100, False), (100, False), (50, True)], "pages (rows, completed): %r" % pages
    mids = [r.get("messageId") for r in seen]
    assert len(mids) == len(set(mids)), "duplicates across pages"
    assert {r["messageId"]: r["messageKey"] for r in seen} == alice_keys, "sync rows differ from acked"
    for r in seen:
        peer = r["toId"] if r["fromId"] == "alice" else r["fromId"]
        assert r.get("conversationId") == "0_alice_%s" % peer and r.get("conversationType") == 0, r
        assert r.get("appId") == pp.APP_ID and r.get("delFlag") == 0, r
    # asking after the last key: nothing, completed
    d = sync_page(srv, "alice", seen[-1]["messageKey"], 100)
    assert d["dataList"] == [] and d["completed"] is True, d
    # the admin may read alice's as operator
    d = api_ok(srv, "/v1/message/syncOfflineMessage",
               {"operator": "alice", "lastSequence": 0, "maxLimit": 200})
    assert len(d["dataList"]) == 200 and d["completed"] is False, (len(d["dataList"]), d["completed"])


# =================================================== history and range
def test_history_paging_and_range(srv):
    a = Dev(srv, "alice", WEB, "tcp")
    b = Dev(srv, "bob", WEB, "ws")
    order = []
    for i in range(12):
        dev, to = (a, "bob") if i % 3 else (b, "alice")
        m, ack = send_ok(dev, to)
        order.append((m["messageId"], ack["messageSequence"]))
    assert [s for _, s in order] == list(range(1, 13)), order
    mid_of = dict((s, mid) for mid, s in order)

    for owner, peer in (("alice", "bob"), ("bob", "alice")):
        # newest first, scrolling up
        pages, seq = [], 0
        for _ in range(5):
            rows, more = history(srv, owner, peer, seq, limit=5)
            pages.append((rows_by_seq(rows), more))
            if not rows:
                break
            seq = rows[-1]["messageSequence"]
            if not more:
                break
        assert pages == [([12, 11, 10, 9, 8], True), ([7, 6, 5, 4, 3], True), ([2, 1], False)], \
            "%s: backwards pages %r" % (owner, pages)
        # oldest first, isGt
        pages, seq = [], 0
        for _ in range(5):
            rows, more = history(srv, owner, peer, seq, is_gt=True, limit=5)
            pages.append((rows_by_seq(rows), more))
            if not rows or not more:
                break
            seq = rows[-1]["messageSequence"]
        assert pages == [([1, 2, 3, 4, 5], True), ([6, 7, 8, 9, 10], True), ([11, 12], False)], \
            "%s: forward pages %r" % (owner, pages)
        # default limit 20: everything, newest first
        rows, more = history(srv, owner, peer, 0)
        assert rows_by_seq(rows) == list(range(12, 0, -1)) and more is False, (rows_by_seq(rows), more)
        for r in rows:
            assert r.get("messageId") == mid_of[r["messageSequence"]], r
            assert r.get("conversationId") == "0_%s_%s" % (owner, peer), r

        # filling a gap
        rows = msg_range(srv, owner, peer, 5, 9)
        assert rows_by_seq(rows) == [5, 6, 7, 8, 9], "range 5..9: %r" % rows_by_seq(rows)
        assert [r.get("messageId") for r in rows] == [mid_of[s] for s in range(5, 10)]
        assert rows_by_seq(msg_range(srv, owner, peer, 10, 0)) == [10, 11, 12]
        assert rows_by_seq(msg_range(srv, owner, peer, 5, 9, limit=2)) == [5, 6]
        assert rows_by_seq(msg_range(srv, owner, peer, 13, 20)) == []
