"""The REST API of docs/API.md, black-box: every /v1 endpoint's happy path
and error paths (users, gateway discovery, app settings), authentication of
signed calls, the operator rule (only the admin acts for another user),
methods, the envelope, secrets never leaving the server, and the demo app
server's userSign working on the socket and for REST.

Every /v1 answer read here goes through call()/raw_call(), which check the
envelope {code, msg, data} and grep the raw bytes for "password" and the
app secret."""
import json
import socket
import time
from urllib.parse import quote

import pytest

import petrelproto as pp
from conftest import SLOW

WEBAPI, WEB, IOS, ANDROID, WINDOWS, MAC = range(6)
USER_MODIFY = 4000
E_USER_FORBIDDEN = 61015      # docs/API.md deleteUser; include/petrel/proto.h
QUIET = 0.4 * SLOW            # how long "nothing arrives" is watched
APP_TIMEOUT = 30.0 * SLOW     # scrypt under ASan is slow

USER_FIELDS = {"userId", "nickName", "photo", "userSex", "birthDay", "location",
               "selfSignature", "friendAllowType", "disableAddFriend", "extra",
               "forbiddenFlag", "silentFlag", "userType",
               "appId", "delFlag", "createTime", "updateTime"}
# what other users see of a user (docs/SECURITY.md, public profile)
PUBLIC_FIELDS = {"userId", "appId", "nickName", "photo", "userSex", "selfSignature",
                 "friendAllowType", "disableAddFriend"}

# every /v1 endpoint of docs/API.md
ALL_V1 = [
    "/v1/user/importUser",
    "/v1/user/deleteUser",
    "/v1/user/data/getUserInfo",
    "/v1/user/data/getSingleUserInfo",
    "/v1/user/data/getSingleInfo",
    "/v1/user/data/modifyUserInfo",
    "/v1/user/data/queryImUserPage",
    "/v1/user/getUserSequence",
    "/v1/user/login",
    "/v1/app/getSetting",
    "/v1/app/updateSetting",
    "/v1/message/send",
    "/v1/message/syncOfflineMessage",
    "/v1/message/queryP2pMessageHistory",
    "/v1/message/getP2pMessageRange",
    "/v1/conversation/syncConversationList",
    "/v1/conversation/syncConversationSet",
    "/v1/conversation/updateConversation",
    "/v1/conversation/deleteConversation",
]


# ================================================================ helpers
def check_no_leak(srv, raw, what):
    low = bytes(raw).lower()
    assert b"password" not in low, "%s: response mentions a password: %r" % (what, raw[:400])
    if srv.secret:
        assert srv.secret.encode() not in bytes(raw), \
            "%s: response contains the app secret: %r" % (what, raw[:400])


def check_envelope(doc, what):
    assert isinstance(doc, dict), "%s: answer is not a JSON object: %r" % (what, doc)
    assert set(doc) == {"code", "msg", "data"}, \
        "%s: envelope keys %r, expected exactly code/msg/data: %r" % (what, sorted(doc), doc)
    assert isinstance(doc["code"], int) and not isinstance(doc["code"], bool), (what, doc)
    assert isinstance(doc["msg"], str), (what, doc)
    if doc["code"] == 200:
        assert doc["msg"] == "success", (what, doc)


def raw_call(srv, method, path_qs, body=None, headers=None):
    """Unsigned/raw request; checks envelope and leaks -> (status, doc)."""
    st, _, data = pp.http_request(srv.http_port, method, path_qs, body, headers=headers,
                                  timeout=10 * SLOW)
    what = "%s %s" % (method, path_qs.split("?")[0])
    check_no_leak(srv, data, what)
    try:
        doc = json.loads(data)
    except ValueError:
        raise AssertionError("%s: HTTP %d, body is not JSON: %r" % (what, st, data[:300]))
    check_envelope(doc, what)
    return st, doc


def call(srv, path, body=None, as_user="admin", method="POST", secret=None, app=pp.APP_ID):
    """Signed call as `as_user` -> (status, doc)."""
    p = pp.signed_path(path, srv.secret if secret is None else secret, as_user, app_id=app)
    return raw_call(srv, method, p, {} if body is None else body)


def ok(srv, path, body=None, as_user="admin", method="POST"):
    st, doc = call(srv, path, body, as_user=as_user, method=method)
    assert st == 200 and doc["code"] == 200, "%s as %s %r: HTTP %d %r" % (
        path, as_user, body, st, doc)
    return doc["data"]


def refused(srv, path, body, as_user, status, code, method="POST"):
    st, doc = call(srv, path, body, as_user=as_user, method=method)
    assert (st, doc["code"]) == (status, code), \
        "%s as %s %r: expected HTTP %d code %d, got HTTP %d %r" % (
            path, as_user, body, status, code, st, doc)
    return doc


def forbidden(srv, path, body, as_user="alice"):
    return refused(srv, path, body, as_user, 403, 60006)


def bad_input(srv, path, body, as_user="admin"):
    return refused(srv, path, body, as_user, 400, 90001)


def import_users(srv, rows):
    return ok(srv, "/v1/user/importUser", {"userData": rows})


def user_info(srv, uid, as_user="admin"):
    d = ok(srv, "/v1/user/data/getUserInfo", {"userIds": [uid]}, as_user=as_user)
    if uid in d["failUser"]:
        return None
    items = [u for u in d["userDataItem"] if u["userId"] == uid]
    assert len(items) == 1, d
    return items[0]


def quiet(c, what, timeout=QUIET):
    """Nothing but pongs arrives on c for `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            p = c.recv(left)
        except TimeoutError:
            return
        assert p.command == pp.PING, "%s: unexpected packet %r" % (what, p)


def next_push(c, what, timeout=None):
    """Next packet other than a pong."""
    deadline = time.monotonic() + (c.timeout if timeout is None else timeout)
    while True:
        try:
            p = c.recv(max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            raise AssertionError("%s: nothing received" % what)
        except pp.ConnectionClosed as e:
            raise AssertionError("%s: connection closed (%s)" % (what, e))
        if p.command != pp.PING:
            return p


def expect_disconnected(c, what, code=None):
    """The server closes c; an error packet before the close (if any) has
    `code`.  Returns the packets received."""
    try:
        pkts, _ = c.expect_closed(5 * SLOW)
    except AssertionError as e:
        raise AssertionError("%s: still connected (%s)" % (what, e))
    errs = [p for p in pkts if p.command == pp.ERROR]
    if code is not None:
        assert errs, "%s: closed without an ERROR %d packet; got %r" % (what, code, pkts)
        assert errs[-1].data.get("code") == code, "%s: expected ERROR %d, got %r" % (
            what, code, pkts)
    return pkts


def login_refused(srv, user, code, ct=WEB, imei="refused-1"):
    c = srv.tcp()
    c.send(pp.LOGIN, {"userId": user,
                      "userSign": pp.make_token(srv.secret, user)},
           client_type=ct, imei=imei)
    c.expect_error(code, closes=True, command=pp.LOGIN)


# ================================================================ importUser
def test_import_user_batch_and_duplicates(srv):
    d = import_users(srv, [{"userId": "imp1", "nickName": "Imp One", "userSex": 2,
                            "extra": "x"},
                           {"userId": "imp2", "nickName": "Imp Two"}])
    assert d == {"successId": ["imp1", "imp2"], "errorId": []}, d
    u = user_info(srv, "imp1")
    assert u["nickName"] == "Imp One" and u["userSex"] == 2 and u["extra"] == "x", u
    assert u["appId"] == pp.APP_ID and u["delFlag"] == 0, u
    assert USER_FIELDS <= set(u), "missing fields %r" % (USER_FIELDS - set(u))

    # batch of 2 where one already exists: that one in errorId, the other imported
    d = import_users(srv, [{"userId": "imp2", "nickName": "Again"},
                           {"userId": "imp3", "nickName": "Imp Three"}])
    assert d == {"successId": ["imp3"], "errorId": ["imp2"]}, d
    assert user_info(srv, "imp2")["nickName"] == "Imp Two", "existing user overwritten"
    assert user_info(srv, "imp3")["nickName"] == "Imp Three"

    # the same id twice in one batch: imported once, the second is an error
    d = import_users(srv, [{"userId": "imp4"}, {"userId": "imp4", "nickName": "dup"}])
    assert d == {"successId": ["imp4"], "errorId": ["imp4"]}, d


def test_import_user_limit(srv):
    rows = [{"userId": "lim%03d" % i} for i in range(101)]
    st, doc = call(srv, "/v1/user/importUser", {"userData": rows})
    assert (st, doc["code"]) == (200, 20000), (st, doc)
    d = ok(srv, "/v1/user/data/getUserInfo", {"userIds": ["lim000", "lim100"]})
    assert d["userDataItem"] == [] and sorted(d["failUser"]) == ["lim000", "lim100"], \
        "a refused batch imported users: %r" % d
    # exactly 100 is fine
    d = import_users(srv, rows[:100])
    assert sorted(d["successId"]) == sorted(r["userId"] for r in rows[:100]), d
    assert d["errorId"] == [], d


def test_import_user_non_admin(srv):
    forbidden(srv, "/v1/user/importUser", {"userData": [{"userId": "sneaky"}]})
    assert user_info(srv, "sneaky") is None


BAD_ROWS = {
    "userSex-string": {"userId": "bad1", "userSex": "male"},
    "userSex-range": {"userId": "bad2", "userSex": 3},
    "nickName-int": {"userId": "bad3", "nickName": 5},
    "nickName-long": {"userId": "bad4", "nickName": "n" * 101},
    "friendAllowType-range": {"userId": "bad5", "friendAllowType": 3},
    "extra-long": {"userId": "bad6", "extra": "e" * 1001},
    "photo-long": {"userId": "bad7", "photo": "p" * 256},
    "disableAddFriend-range": {"userId": "bad8", "disableAddFriend": 2},
}


def test_import_user_invalid_rows(srv):
    rows = [{"userId": "good1", "nickName": "Good"}] + list(BAD_ROWS.values()) + \
           [{"userId": "good2"}]
    d = import_users(srv, rows)
    assert d["successId"] == ["good1", "good2"], d
    want_err = sorted(r["userId"] for r in BAD_ROWS.values())
    assert sorted(d["errorId"]) == want_err, d
    for r in BAD_ROWS.values():
        assert user_info(srv, r["userId"]) is None, "invalid row %r was imported" % r
    # rows without a usable userId are refused too (what errorId then names
    # is not specified; one entry per refused row)
    d = import_users(srv, [{"userId": 7}, {"nickName": "anon"}, {"userId": ""},
                           {"userId": "u" * 129}, "not-an-object", {"userId": "good3"}])
    assert d["successId"] == ["good3"], d
    assert len(d["errorId"]) == 5, d


@pytest.mark.parametrize("body", [{}, {"userData": []}, {"userData": "alice"},
                                  {"userData": {"userId": "x"}}],
                         ids=["missing", "empty", "string", "object"])
def test_import_user_bad_body(srv, body):
    bad_input(srv, "/v1/user/importUser", body)


# ================================================================ deleteUser
def test_delete_user(srv):
    import_users(srv, [{"userId": "del1", "nickName": "Doomed"},
                       {"userId": "del2", "nickName": "Doomed too"}])
    victim = srv.login("del1", client_type=IOS, imei="del1-ios")
    other = srv.login("alice", client_type=IOS, imei="alice-ios")

    forbidden(srv, "/v1/user/deleteUser", {"userId": ["del1"]})
    assert user_info(srv, "del1") is not None

    d = ok(srv, "/v1/user/deleteUser", {"userId": ["del1", "nosuch"]})
    assert d == {"successId": ["del1"], "errorId": ["nosuch"]}, d
    # the connected device is disconnected with 61015
    expect_disconnected(victim, "deleted user's device", code=E_USER_FORBIDDEN)
    # and the user can no longer log in
    login_refused(srv, "del1", E_USER_FORBIDDEN)
    # nobody else was touched
    assert other.ping().command == pp.PING

    # lookups: 20001 on both single paths, failUser on the batch
    for p in ("/v1/user/data/getSingleUserInfo", "/v1/user/data/getSingleInfo"):
        refused(srv, p, {"userId": "del1"}, "alice", 200, 20001)
    d = ok(srv, "/v1/user/data/getUserInfo", {"userIds": ["del1", "alice"]}, as_user="alice")
    assert d["failUser"] == ["del1"], d
    assert [u["userId"] for u in d["userDataItem"]] == ["alice"], d
    # deleted users are not searchable
    d = ok(srv, "/v1/user/data/queryImUserPage",
           {"nickName": "Doomed", "currentPage": 1, "pageSize": 10}, as_user="alice")
    assert [r["userId"] for r in d["records"]] == ["del2"], d
    assert d["total"] == 1, d
    # modifying a deleted user: not found
    refused(srv, "/v1/user/data/modifyUserInfo", {"userId": "del1", "nickName": "x"},
            "admin", 200, 20001)

    # the alias `userIds`; deleting again is an error
    d = ok(srv, "/v1/user/deleteUser", {"userIds": ["del2", "del1"]})
    assert d == {"successId": ["del2"], "errorId": ["del1"]}, d


@pytest.mark.parametrize("body", [{}, {"userId": []}, {"userId": "alice"}, {"userId": [5]}],
                         ids=["missing", "empty", "string", "number"])
def test_delete_user_bad_body(srv, body):
    st, doc = call(srv, "/v1/user/deleteUser", body)
    if st == 200:
        # a lone non-list id may be accepted as a one-element list, but
        # never silently succeed on nothing
        assert doc["code"] != 200 or doc["data"]["successId"] == ["alice"], doc
    else:
        assert (st, doc["code"]) == (400, 90001), (st, doc)


# ====================================================== getUserInfo & single
def test_get_user_info(srv):
    d = ok(srv, "/v1/user/data/getUserInfo", {"userIds": ["alice", "nobody", "bob"]},
           as_user="alice")
    assert sorted(u["userId"] for u in d["userDataItem"]) == ["alice", "bob"], d
    assert d["failUser"] == ["nobody"], d
    for u in d["userDataItem"]:
        if u["userId"] != "alice":   # another user: the public profile only
            assert set(u) == PUBLIC_FIELDS, u
            continue
        assert USER_FIELDS <= set(u), "missing %r in %r" % (USER_FIELDS - set(u), u)
        assert u["appId"] == pp.APP_ID and u["delFlag"] == 0, u
        assert isinstance(u["createTime"], int) and abs(u["createTime"] - time.time() * 1000) \
            < 600_000, "createTime %r is not epoch ms" % u["createTime"]
    bad_input(srv, "/v1/user/data/getUserInfo", {"userIds": "alice"}, as_user="alice")
    bad_input(srv, "/v1/user/data/getUserInfo", {}, as_user="alice")


@pytest.mark.parametrize("path", ["/v1/user/data/getSingleUserInfo",
                                  "/v1/user/data/getSingleInfo"])
def test_get_single_user_info(srv, path):
    u = ok(srv, path, {"userId": "alice"}, as_user="alice")
    assert u["userId"] == "alice" and u["nickName"] == "alice", u
    assert USER_FIELDS <= set(u), USER_FIELDS - set(u)
    # default: the operator
    u = ok(srv, path, {}, as_user="bob")
    assert u["userId"] == "bob", u
    refused(srv, path, {"userId": "nobody"}, "alice", 200, 20001)
    bad_input(srv, path, {"userId": 12}, as_user="alice")


# ============================================================ modifyUserInfo
def test_modify_self_and_push_to_all_devices(srv):
    web = srv.login("alice", client_type=WEB, imei="alice-web", transport="tcp")
    ios = srv.login("alice", client_type=IOS, imei="alice-ios", transport="ws")
    bob = srv.login("bob", client_type=IOS, imei="bob-ios")

    body = {"nickName": "Alice L.", "selfSignature": "hi", "userSex": 2}
    d = ok(srv, "/v1/user/data/modifyUserInfo", body, as_user="alice")
    want = dict(body, userId="alice")
    assert d == want, "response %r, expected %r" % (d, want)
    for c, name in ((web, "alice web/tcp"), (ios, "alice ios/ws")):
        p = next_push(c, name)
        assert p.command == USER_MODIFY, "%s: expected USER_MODIFY 4000, got %r" % (name, p)
        assert p.data == want, "%s: push %r, expected %r" % (name, p.data, want)
        assert b"password" not in p.raw.lower(), p
    quiet(bob, "bob (not the modified user)")
    u = user_info(srv, "alice", as_user="alice")
    assert (u["nickName"], u["selfSignature"], u["userSex"]) == ("Alice L.", "hi", 2), u
    assert u["updateTime"] >= u["createTime"], u

    # the admin may modify alice; alice's devices get that push too
    d = ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", "location": "Oslo"})
    assert d == {"userId": "alice", "location": "Oslo"}, d
    for c in (web, ios):
        p = next_push(c, "admin's modify")
        assert p.command == USER_MODIFY and p.data == d, p
    quiet(bob, "bob")


def test_modify_never_returns_password(srv):
    web = srv.login("alice", client_type=WEB, imei="alice-web")
    st, doc = call(srv, "/v1/user/data/modifyUserInfo",
                   {"nickName": "pw", "password": "hunter2-secret"}, as_user="alice")
    # call() already grepped the raw answer; a push, if any, carries no password
    if doc["code"] == 200:
        p = next_push(web, "modify with a password field")
        assert p.command == USER_MODIFY, p
        assert b"password" not in p.raw.lower() and b"hunter2" not in p.raw, p
        assert "password" not in doc["data"], doc
    else:
        assert (st, doc["code"]) == (400, 90001), (st, doc)
        quiet(web, "refused modify")


def test_modify_other_user_needs_admin(srv):
    forbidden(srv, "/v1/user/data/modifyUserInfo", {"userId": "bob", "nickName": "pwned"})
    assert user_info(srv, "bob")["nickName"] == "bob"
    d = ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "bob", "nickName": "Bobby"})
    assert d == {"userId": "bob", "nickName": "Bobby"}, d
    assert user_info(srv, "bob")["nickName"] == "Bobby"
    refused(srv, "/v1/user/data/modifyUserInfo", {"userId": "nobody", "nickName": "x"},
            "admin", 200, 20001)


@pytest.mark.parametrize("field,value", [("forbiddenFlag", 1), ("silentFlag", 1),
                                         ("userType", 100)])
def test_modify_admin_only_fields(srv, field, value):
    forbidden(srv, "/v1/user/data/modifyUserInfo", {field: value})
    forbidden(srv, "/v1/user/data/modifyUserInfo", {"nickName": "ok", field: value})
    u = user_info(srv, "alice")
    assert u[field] != value, "non-admin changed %s: %r" % (field, u)
    assert u["nickName"] == "alice", "half-applied refused modify: %r" % u
    # the admin may
    d = ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", field: value})
    assert d == {"userId": "alice", field: value}, d
    assert user_info(srv, "alice")[field] == value


BAD_FIELDS = [("userSex", 3), ("userSex", "1"), ("nickName", 42), ("nickName", "n" * 101),
              ("photo", "p" * 256), ("birthDay", "b" * 51), ("location", "l" * 51),
              ("selfSignature", "s" * 256), ("friendAllowType", 0), ("friendAllowType", 3),
              ("disableAddFriend", 2), ("extra", "e" * 1001)]


def test_modify_invalid_fields(srv):
    for field, value in BAD_FIELDS:
        bad_input(srv, "/v1/user/data/modifyUserInfo", {field: value}, as_user="alice")
    bad_input(srv, "/v1/user/data/modifyUserInfo", {"forbiddenFlag": 2, "userId": "alice"})
    bad_input(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice"})   # nothing to change
    u = user_info(srv, "alice")
    assert u["nickName"] == "alice" and u["userSex"] == 0 and u["forbiddenFlag"] == 0, u


def test_forbidden_flag_disconnects_and_blocks_login(srv):
    web = srv.login("alice", client_type=WEB, imei="alice-web")
    ios = srv.login("alice", client_type=IOS, imei="alice-ios")
    bob = srv.login("bob", client_type=IOS, imei="bob-ios")
    ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", "forbiddenFlag": 1})
    for c, name in ((web, "alice web"), (ios, "alice ios")):
        pkts = expect_disconnected(c, name)
        errs = [p for p in pkts if p.command == pp.ERROR]
        for e in errs:
            assert e.data.get("code") == E_USER_FORBIDDEN, "%s: %r" % (name, pkts)
    login_refused(srv, "alice", E_USER_FORBIDDEN, ct=ANDROID, imei="alice-android")
    assert bob.ping().command == pp.PING
    # lifting the flag lets alice in again
    ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "alice", "forbiddenFlag": 0})
    c = srv.login("alice", client_type=ANDROID, imei="alice-android")
    assert c.ping().command == pp.PING


# =========================================================== getUserSequence
SEQ_KEYS = {"friendshipSeq", "friendshipRequestSeq", "friendshipGroupSeq",
            "conversationSeq", "groupSeq"}


def test_get_user_sequence(srv):
    d = ok(srv, "/v1/user/getUserSequence", {}, as_user="alice")
    assert d == {k: 0 for k in SEQ_KEYS}, d
    # a message creates conversations for both users
    ok(srv, "/v1/message/send", {"fromId": "alice", "toId": "bob", "messageId": "seq-1",
                                 "messageBody": {"type": 1, "content": "hi"}},
       as_user="alice")
    d = ok(srv, "/v1/user/getUserSequence", {"userId": "alice"}, as_user="alice")
    assert set(d) == SEQ_KEYS and d["conversationSeq"] > 0, d
    conv = ok(srv, "/v1/conversation/syncConversationList",
              {"lastSequence": 0, "maxLimit": 100}, as_user="alice")
    assert d["conversationSeq"] == max(c["sequence"] for c in conv["dataList"]), (d, conv)
    # admin for bob; bob for himself by default
    d_admin = ok(srv, "/v1/user/getUserSequence", {"userId": "bob"})
    assert d_admin["conversationSeq"] > 0, d_admin
    assert ok(srv, "/v1/user/getUserSequence", {}, as_user="bob") == d_admin
    forbidden(srv, "/v1/user/getUserSequence", {"userId": "bob"})


# ============================================================ queryImUserPage
def test_query_im_user_page(srv):
    rows = [{"userId": "pg%02d" % i, "nickName": "Pager %02d" % i} for i in range(23)]
    rows.append({"userId": "nomatch", "nickName": "Someone Else"})
    import_users(srv, rows)
    ok(srv, "/v1/user/data/modifyUserInfo", {"nickName": "Pager alice"}, as_user="alice")

    seen = []
    for page, n in ((1, 10), (2, 10), (3, 3)):
        d = ok(srv, "/v1/user/data/queryImUserPage",
               {"nickName": "ager", "currentPage": page, "pageSize": 10}, as_user="alice")
        assert (d["total"], d["size"], d["current"], d["pages"]) == (23, 10, page, 3), d
        assert len(d["records"]) == n, (page, d)
        for r in d["records"]:
            assert "ager" in r["nickName"], r
            assert set(r) == PUBLIC_FIELDS, r
        seen += [r["userId"] for r in d["records"]]
    # operator (whose nickname matches) excluded; pages disjoint and complete
    assert "alice" not in seen, "the operator is listed"
    assert sorted(seen) == sorted(r["userId"] for r in rows[:23]), seen
    # past the end: nothing, same totals
    d = ok(srv, "/v1/user/data/queryImUserPage",
           {"nickName": "ager", "currentPage": 4, "pageSize": 10}, as_user="alice")
    assert d["records"] == [] and d["total"] == 23 and d["pages"] == 3, d
    # one page of everything
    d = ok(srv, "/v1/user/data/queryImUserPage",
           {"nickName": "ager", "currentPage": 1, "pageSize": 100}, as_user="alice")
    assert len(d["records"]) == 23 and d["pages"] == 1 and d["size"] == 100, d
    # another operator sees alice
    d = ok(srv, "/v1/user/data/queryImUserPage",
           {"nickName": "Pager al", "currentPage": 1, "pageSize": 10}, as_user="bob")
    assert [r["userId"] for r in d["records"]] == ["alice"] and d["total"] == 1, d
    d = ok(srv, "/v1/user/data/queryImUserPage",
           {"nickName": "Pager 07", "currentPage": 1, "pageSize": 10}, as_user="bob")
    assert [r["userId"] for r in d["records"]] == ["pg07"], d
    for size in (101, 0, -1):
        bad_input(srv, "/v1/user/data/queryImUserPage",
                  {"nickName": "ager", "currentPage": 1, "pageSize": size}, as_user="alice")


# ===================================================== gateway discovery
def test_login_gateway_defaults(srv):
    d = ok(srv, "/v1/user/login", {"clientType": 1}, as_user="alice")
    assert d == {"ip": "127.0.0.1", "port": srv.http_port,
                 "url": "ws://127.0.0.1:%d/ws" % srv.http_port, "transport": "ws"}, d
    for ct in (2, 3, 4, 5):
        d = ok(srv, "/v1/user/login", {"clientType": ct}, as_user="alice")
        assert d["transport"] == "tcp" and d["ip"] == "127.0.0.1", (ct, d)
        assert d["port"] == srv.tcp_port, (ct, d)
        assert d["url"].endswith("127.0.0.1:%d" % srv.tcp_port), (ct, d)
    # and the TCP address handed out really is the gateway
    c = srv.tcp()
    assert c.login("alice", srv.token("alice"), client_type=IOS).command == pp.LOGINACK


def test_login_gateway_round_robin(server):
    s = server("--route-strategy=round_robin", "--public-tcp=127.0.0.1:1,127.0.0.1:2")
    s.ensure_users(["alice", "bob"])
    ports = [ok(s, "/v1/user/login", {"clientType": IOS}, as_user=u)["port"]
             for u in ("alice", "bob", "alice", "alice", "bob", "bob")]
    assert set(ports) == {1, 2}, ports
    for a, b in zip(ports, ports[1:]):
        assert a != b, "round_robin did not alternate: %r" % ports


def test_login_gateway_hash_stable_per_user(server):
    nodes = ",".join("127.0.0.1:%d" % p for p in (11, 12, 13))
    s = server("--route-strategy=hash", "--public-tcp=" + nodes)
    users = ["hu%02d" % i for i in range(16)]
    s.ensure_users(users)
    first = {}
    for rnd in range(3):
        for u in users:
            d = ok(s, "/v1/user/login", {"clientType": ANDROID}, as_user=u)
            assert d["port"] in (11, 12, 13) and d["ip"] == "127.0.0.1", d
            assert first.setdefault(u, d["port"]) == d["port"], \
                "hash route of %s changed: %d then %d" % (u, first[u], d["port"])
    assert len(set(first.values())) >= 2, "16 users all hashed to one node: %r" % first


def test_login_gateway_none_configured(server):
    # no TCP gateway (tcp_listen empty) and no public_tcp: 71000 for
    # non-web clients.  A placeholder listener satisfies the fixture's
    # start-up probe of the TCP port.
    ph = socket.socket()
    ph.bind(("127.0.0.1", 0))
    ph.listen(8)
    try:
        s = server("--tcp-listen=", start=False)
        s.start(tcp_port=ph.getsockname()[1])
        s.ensure_users(["alice"])
        st, doc = call(s, "/v1/user/login", {"clientType": IOS}, as_user="alice")
        assert (st, doc["code"]) == (200, 71000), (st, doc)
        d = ok(s, "/v1/user/login", {"clientType": WEB}, as_user="alice")
        assert d["transport"] == "ws" and d["port"] == s.http_port, d
    finally:
        ph.close()


# ================================================================ app settings
SETTING_KEYS = {"appId", "adminId", "loginPolicy", "maxPerPlatform", "settings", "createTime"}


def test_get_and_update_setting(srv):
    d = ok(srv, "/v1/app/getSetting")
    assert set(d) == SETTING_KEYS, d
    assert (d["appId"], d["adminId"], d["loginPolicy"], d["maxPerPlatform"]) == \
        (pp.APP_ID, "admin", 3, 0), d
    assert isinstance(d["settings"], dict), d
    assert not any("secret" in k.lower() for k in d), d

    forbidden(srv, "/v1/app/getSetting", {})
    forbidden(srv, "/v1/app/updateSetting", {"loginPolicy": 4})

    new = ok(srv, "/v1/app/updateSetting",
             {"loginPolicy": 2, "maxPerPlatform": 5, "settings": {"feature": True}})
    assert set(new) == SETTING_KEYS, new
    assert (new["loginPolicy"], new["maxPerPlatform"], new["settings"]) == \
        (2, 5, {"feature": True}), new
    assert ok(srv, "/v1/app/getSetting") == new

    for body in ({"loginPolicy": 0}, {"loginPolicy": 5}, {"loginPolicy": "1"},
                 {"maxPerPlatform": -1}, {"maxPerPlatform": 1001},
                 {"settings": "on"}, {"settings": [1]}):
        bad_input(srv, "/v1/app/updateSetting", body)
    assert ok(srv, "/v1/app/getSetting") == new, "a refused update changed the settings"


def assert_kicked(c, user, ct, imei, by_ct, by_imei):
    p = next_push(c, "%s ct=%d (expected MUTUALLOGIN)" % (user, ct))
    assert p.command == pp.MUTUALLOGIN, "expected 9002, got %r" % p
    want = {"userId": user, "clientType": ct, "imei": imei,
            "byClientType": by_ct, "byImei": by_imei}
    assert {k: p.data.get(k) for k in want} == want, (p.data, want)
    rest, _ = c.expect_closed()
    assert not rest, rest


def test_update_setting_login_policy_takes_effect(srv):
    # policy 3: web and iOS coexist
    web = srv.login("alice", client_type=WEB, imei="a-web")
    ios = srv.login("alice", client_type=IOS, imei="a-ios")
    time.sleep(0.1 * SLOW)
    assert web.ping().command == pp.PING and ios.ping().command == pp.PING

    d = ok(srv, "/v1/app/updateSetting", {"loginPolicy": 1})
    assert d["loginPolicy"] == 1, d

    # the next login of alice kicks both earlier devices
    srv.login("alice", client_type=ANDROID, imei="a-android")
    assert_kicked(web, "alice", WEB, "a-web", ANDROID, "a-android")
    assert_kicked(ios, "alice", IOS, "a-ios", ANDROID, "a-android")

    # a fresh pair: the second device kicks the first
    bweb = srv.login("bob", client_type=WEB, imei="b-web")
    bios = srv.login("bob", client_type=IOS, imei="b-ios")
    assert_kicked(bweb, "bob", WEB, "b-web", IOS, "b-ios")
    assert bios.ping().command == pp.PING


# ============================================================ authentication
def _tampered(srv, user):
    doc = pp.decode_token(pp.make_token(srv.secret, user))
    sig = doc["TLS.sig"]
    doc["TLS.sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    return pp.encode_token_doc(doc)


def _claiming(srv, user):
    doc = pp.decode_token(pp.make_token(srv.secret, "mallory"))
    doc["TLS.identifier"] = user
    return pp.encode_token_doc(doc)


# case -> (query builder(srv, ident) -> query string, status, code)
def _q(app, ident, tok):
    parts = []
    if app is not None:
        parts.append("appId=%s" % app)
    if ident is not None:
        parts.append("identifier=%s" % quote(ident, safe=""))
    if tok is not None:
        parts.append("userSign=%s" % quote(tok, safe=""))
    return "&".join(parts)


AUTH_CASES = {
    "no-appId": (lambda s, u: _q(None, u, pp.make_token(s.secret, u)), 60001),
    "no-identifier": (lambda s, u: _q(pp.APP_ID, None, pp.make_token(s.secret, u)), 60002),
    "no-userSign": (lambda s, u: _q(pp.APP_ID, u, None), 60000),
    "garbage-token": (lambda s, u: _q(pp.APP_ID, u, "not-a-token"), 60003),
    "truncated-token": (lambda s, u: _q(pp.APP_ID, u, pp.make_token(s.secret, u)[:-12]), 60003),
    "tampered-sig": (lambda s, u: _q(pp.APP_ID, u, _tampered(s, u)), 60003),
    "tampered-identifier": (lambda s, u: _q(pp.APP_ID, u, _claiming(s, u)), 60003),
    "other-secret": (lambda s, u: _q(pp.APP_ID, u, pp.make_token("other-secret", u)), 60003),
    "expired": (lambda s, u: _q(pp.APP_ID, u, pp.make_token(
        s.secret, u, ttl=60, issued=int(time.time()) - 100000)), 60004),
    "other-identifier": (lambda s, u: _q(pp.APP_ID, u, pp.make_token(s.secret, "bob")), 60005),
    "unknown-appId": (lambda s, u: _q(99999, u, pp.make_token(s.secret, u, app_id=99999)), 60003),
    "token-of-other-app": (lambda s, u: _q(pp.APP_ID, u, pp.make_token(s.secret, u,
                                                                       app_id=99999)), 60003),
}


@pytest.mark.parametrize("case", sorted(AUTH_CASES))
def test_auth_refused(srv, case):
    make, code = AUTH_CASES[case]
    for path in ALL_V1:
        for ident in ("alice", "admin"):
            st, doc = raw_call(srv, "POST", path + "?" + make(srv, ident), {})
            assert (st, doc["code"], doc["data"]) == (401, code, None), \
                "%s as %s (%s): expected 401/%d, got HTTP %d %r" % (
                    path, ident, case, code, st, doc)
    # an admin token for the admin identity still works (control)
    assert ok(srv, "/v1/app/getSetting")["appId"] == pp.APP_ID


def test_auth_admin_identity_needs_admin_token(srv):
    # alice's valid token does not make her the admin, nor bob
    st, doc = raw_call(srv, "POST", "/v1/app/getSetting?" +
                       _q(pp.APP_ID, "admin", pp.make_token(srv.secret, "alice")), {})
    assert (st, doc["code"]) == (401, 60005), (st, doc)


# body naming another user, as alice; the same as admin must be allowed
OTHER_USER_CASES = [
    ("/v1/user/data/modifyUserInfo", {"userId": "bob", "nickName": "x"}),
    ("/v1/user/getUserSequence", {"userId": "bob"}),
    ("/v1/message/send", {"fromId": "bob", "toId": "carol", "messageId": "ou-1",
                          "messageBody": {"type": 1, "content": "forged"}}),
    ("/v1/message/syncOfflineMessage", {"operator": "bob", "lastSequence": 0,
                                        "maxLimit": 10}),
    ("/v1/message/queryP2pMessageHistory", {"ownerId": "bob", "toId": "carol",
                                            "messageSequence": 0, "limit": 10}),
    ("/v1/conversation/updateConversation", {"conversationId": "0_bob_carol", "isTop": 1}),
    ("/v1/conversation/deleteConversation", {"conversationId": "0_bob_carol"}),
    ("/v1/user/importUser", {"userData": [{"userId": "zed"}]}),
    ("/v1/user/deleteUser", {"userId": ["bob"]}),
    ("/v1/app/getSetting", {}),
    ("/v1/app/updateSetting", {"loginPolicy": 4}),
]


def test_non_admin_cannot_act_for_another_user(srv):
    # bob and carol have a conversation, so 0_bob_carol exists
    ok(srv, "/v1/message/send", {"fromId": "bob", "toId": "carol", "messageId": "setup-1",
                                 "messageBody": {"type": 1, "content": "hi"}}, as_user="bob")
    for path, body in OTHER_USER_CASES:
        forbidden(srv, path, body, as_user="alice")
    # nothing happened on bob's behalf
    assert user_info(srv, "bob")["nickName"] == "bob"
    hist = ok(srv, "/v1/message/queryP2pMessageHistory",
              {"toId": "carol", "messageSequence": 0, "limit": 10}, as_user="bob")
    rows = hist.get("dataList") if isinstance(hist.get("dataList"), list) else \
        [v for v in hist.values() if isinstance(v, list)][0]
    assert [m["messageId"] for m in rows] == ["setup-1"], "forged message stored: %r" % hist
    conv = ok(srv, "/v1/conversation/syncConversationList",
              {"lastSequence": 0, "maxLimit": 100}, as_user="bob")
    c = [x for x in conv["dataList"] if x["conversationId"] == "0_bob_carol"]
    assert len(c) == 1 and not c[0]["deleted"] and not c[0]["isTop"], conv
    assert ok(srv, "/v1/app/getSetting")["loginPolicy"] == 3
    # the admin may do the acting-for ones
    for path, body in OTHER_USER_CASES[:5]:
        ok(srv, path, body, as_user="admin")


# ================================================================ methods
def test_get_accepted_like_post_on_v1(srv):
    # GET with a JSON body
    st, doc = call(srv, "/v1/user/data/getSingleUserInfo", {"userId": "bob"},
                   as_user="alice", method="GET")
    assert st == 200 and doc["code"] == 200 and doc["data"]["userId"] == "bob", (st, doc)
    # GET without a body: {} -> the operator
    p = pp.signed_path("/v1/user/data/getSingleUserInfo", srv.secret, "alice")
    st, doc = raw_call(srv, "GET", p, None)
    assert st == 200 and doc["code"] == 200 and doc["data"]["userId"] == "alice", (st, doc)
    # an admin write via GET
    d = ok(srv, "/v1/user/importUser", {"userData": [{"userId": "viaget"}]}, method="GET")
    assert d["successId"] == ["viaget"], d
    # errors are the same under GET
    st, doc = call(srv, "/v1/user/importUser", {"userData": [{"userId": "x"}]},
                   as_user="alice", method="GET")
    assert (st, doc["code"]) == (403, 60006), (st, doc)
    st, doc = raw_call(srv, "GET", "/v1/user/getUserSequence?appId=10000&identifier=alice")
    assert (st, doc["code"]) == (401, 60000), (st, doc)


@pytest.mark.parametrize("path", ["/app/v1/register", "/app/v1/login", "/app/v1/callback"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_app_routes_post_only(srv, path, method):
    body = None if method == "GET" else json.dumps({"userName": "mallory",
                                                    "password": "password-1"})
    st, _, data = pp.http_request(srv.http_port, method, path + "?appId=10000&command=x",
                                  body, timeout=10 * SLOW)
    assert st == 405, "%s %s: expected 405, got %d %r" % (method, path, st, data[:200])
    doc = json.loads(data)
    assert doc.get("code") == 405 and isinstance(doc.get("msg"), str), doc
    assert srv.secret.encode() not in data
    # nothing was registered by a wrong-method register
    st, doc = raw_call(srv, "POST", "/v1/user/data/getSingleUserInfo?" +
                       _q(pp.APP_ID, "admin", pp.make_token(srv.secret, "admin")),
                       {"userId": "mallory"})
    assert doc["code"] == 20001, doc


def test_unknown_v1_path_404(srv):
    for method in ("POST", "GET"):
        st, doc = call(srv, "/v1/user/noSuchEndpoint", {}, method=method)
        assert (st, doc["code"]) == (404, 404), (method, st, doc)


# ============================================================ envelope / leaks
def test_envelope_and_no_leaks_everywhere(srv):
    """A sweep over every /v1 endpoint as admin and as a user, with good and
    bad bodies: every answer is an envelope and carries neither the word
    "password" nor the app secret (call() checks)."""
    ok(srv, "/v1/message/send", {"fromId": "alice", "toId": "bob", "messageId": "env-1",
                                 "messageBody": {"type": 1, "content": "hello"}},
       as_user="alice")
    bodies = [{}, {"userId": "alice", "userIds": ["alice", "bob"], "toId": "bob",
                   "conversationId": "0_alice_bob", "lastSequence": 0, "maxLimit": 10,
                   "messageSequence": 0, "fromSequence": 0, "clientType": 1,
                   "nickName": "a", "currentPage": 1, "pageSize": 10},
              {"userId": 5, "userIds": "x", "loginPolicy": "z", "pageSize": 1000}]
    seen = 0
    for path in ALL_V1:
        if path in ("/v1/user/deleteUser",):
            continue   # would delete alice mid-sweep; covered in test_delete_user
        for user in ("admin", "alice"):
            for body in bodies:
                st, doc = call(srv, path, body, as_user=user)
                assert st in (200, 400, 403), (path, user, body, st, doc)
                if st != 200:
                    assert doc["code"] in (90001, 60006) and doc["data"] is None, \
                        (path, st, doc)
                seen += 1
    assert seen == (len(ALL_V1) - 1) * 2 * len(bodies)
    # operations endpoints too
    for path in ("/healthz", "/metrics", "/nope"):
        st, _, data = pp.http_request(srv.http_port, "GET", path, None, timeout=10 * SLOW)
        check_no_leak(srv, data, path)
    # the app settings specifically
    st, _, data = pp.http_request(srv.http_port, "POST", pp.signed_path(
        "/v1/app/getSetting", srv.secret, "admin"), "{}", timeout=10 * SLOW)
    assert st == 200 and srv.secret.encode() not in data and b"secret" not in data.lower(), data


# ================================================================ end to end
def app_post(srv, path, body):
    st, _, data = pp.http_request(srv.http_port, "POST", path, body, timeout=APP_TIMEOUT,
                                  headers={"Content-Type": "application/json"})
    doc = json.loads(data)
    assert srv.secret.encode() not in data, data
    assert b'"password"' not in data, data
    assert isinstance(doc, dict) and isinstance(doc.get("code"), int) and \
        isinstance(doc.get("msg"), str), doc
    return st, doc, data


def test_register_login_then_socket_and_rest(srv):
    pw = "correct horse battery"
    st, doc, data = app_post(srv, "/app/v1/register", {"userName": "Zoe.Q", "password": pw})
    assert st == 200 and doc["code"] == 200, (st, doc)
    assert set(doc) == {"code", "msg", "data"}, doc
    assert doc["data"] == {"userId": "Zoe.Q", "userName": "Zoe.Q", "appId": pp.APP_ID}, doc
    assert pw.encode() not in data

    st, doc, data = app_post(srv, "/app/v1/login", {"userName": "zoe.q", "password": pw,
                                                    "loginType": 1})
    assert st == 200 and doc["code"] == 200, (st, doc)
    assert set(doc) == {"code", "msg", "data"}, doc
    assert pw.encode() not in data
    d = doc["data"]
    assert d["userId"] == "Zoe.Q" and d["appId"] == pp.APP_ID, d
    tok = d["imUserSign"]
    assert d["userSign"] == tok, d

    # the socket accepts it
    c = srv.tcp()
    ack = c.login("Zoe.Q", tok, client_type=IOS, imei="zoe-ios")
    assert ack.command == pp.LOGINACK and ack.data.get("userId") == "Zoe.Q", ack
    assert c.ping().command == pp.PING

    # REST as Zoe.Q with that very token
    q = _q(pp.APP_ID, "Zoe.Q", tok)
    st, doc = raw_call(srv, "POST", "/v1/user/data/getSingleUserInfo?" + q, {})
    assert st == 200 and doc["code"] == 200 and doc["data"]["userId"] == "Zoe.Q", (st, doc)
    st, doc = raw_call(srv, "POST", "/v1/user/data/modifyUserInfo?" + q,
                       {"nickName": "Zoe"})
    assert st == 200 and doc["data"] == {"userId": "Zoe.Q", "nickName": "Zoe"}, (st, doc)
    p = next_push(c, "Zoe's own modify")
    assert p.command == USER_MODIFY and p.data == {"userId": "Zoe.Q", "nickName": "Zoe"}, p
    # ... but not as someone else, nor as the admin
    st, doc = raw_call(srv, "POST", "/v1/user/data/getSingleUserInfo?" +
                       _q(pp.APP_ID, "admin", tok), {})
    assert (st, doc["code"]) == (401, 60005), (st, doc)
    st, doc = raw_call(srv, "POST", "/v1/user/data/modifyUserInfo?" + q,
                       {"userId": "alice", "nickName": "pwned"})
    assert (st, doc["code"]) == (403, 60006), (st, doc)

    # a wrong password: the documented refusal, no token
    st, doc, data = app_post(srv, "/app/v1/login", {"userName": "Zoe.Q",
                                                    "password": "wrong password!"})
    assert (st, doc["code"]) == (200, 10001), (st, doc)
    assert b"eJ" not in data and b"wrong password!" not in data, data
