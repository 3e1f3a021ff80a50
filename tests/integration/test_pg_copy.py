"""Moving a SQLite database to PostgreSQL (issue 16 item 2, docs/OPERATIONS.md
"Moving from SQLite to PostgreSQL"): `petreld copy-sqlite` copies a SQLite
data_dir into a fresh PostgreSQL database, checks it, and a server started
on PostgreSQL then serves the same history, sync, conversations, friends,
friend lists, requests, groups and group messages, with sequences that
continue without a gap or a duplicate.  Copying into a database that holds
data is refused, and so is a destination that is not PostgreSQL.

Needs a PostgreSQL server: PETREL_TEST_PG (the base URL the rest of the
suite uses, see scripts/pg-test-server.sh).  Each test creates databases
of its own."""
import os
import secrets
import signal
import sqlite3
import subprocess

import pytest

from conftest import PETRELD, PG_URL, SLOW
from test_appserver import login as app_login, register as app_register
from test_messages import (MSG_P2P, WEB, Dev, api_ok, check_ack, conv_page, history, mk,
                           msg_range, recall, sync_all)
from test_groups import create as group_create, gsend, sync as group_sync

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="PETREL_TEST_PG is not set: the copy needs a PostgreSQL server "
                       "(scripts/pg-test-server.sh start DIR PORT prints the URL)")

USERS = ["alice", "bob", "carol", "dave"]
FS, FR, FG, G = "/v1/friendship/", "/v1/friendshipRequest/", "/v1/friendship/group/", "/v1/group/"


def psql(url, sql):
    r = subprocess.run(["psql", url, "-qAtc", sql], capture_output=True, text=True,
                       timeout=60 * SLOW)
    assert r.returncode == 0, "psql %s: %s" % (sql, r.stderr)
    return [ln.split("|") for ln in r.stdout.splitlines() if ln]


def fresh_db():
    name = "copy_" + secrets.token_hex(6)
    psql(PG_URL + "/postgres", "CREATE DATABASE " + name)
    return PG_URL + "/" + name


def copy(data_dir, url, *extra):
    return subprocess.run([PETRELD, "copy-sqlite", "--data-dir=" + data_dir, "--store=" + url]
                          + list(extra), capture_output=True, text=True, timeout=120 * SLOW)


def populate(srv):
    """Users, 1:1 messages both ways with a recall, a conversation setting,
    friends, a friend list, a pending friend request, a group with messages
    and a join request, a custom status, a demo account."""
    srv.ensure_users(USERS)
    a = Dev(srv, "alice", WEB, "tcp")
    acks = []
    for frm, to in (("alice", "bob"), ("bob", "alice"), ("alice", "bob"), ("alice", "carol"),
                    ("bob", "alice"), ("carol", "alice")):
        d = api_ok(srv, "/v1/message/send", {"fromId": frm, "toId": to,
                                             "messageBody": "%s to %s" % (frm, to)},
                   as_user="admin")
        acks.append(d)
    assert recall(a, acks[2]["messageKey"]).data["code"] == 200
    api_ok(srv, "/v1/conversation/updateConversation",
           {"conversationId": "0_alice_bob", "isTop": 1}, as_user="alice")
    api_ok(srv, FS + "addFriend", {"toItem": {"toId": "bob", "remark": "B"}}, as_user="alice")
    api_ok(srv, FS + "addFriend", {"toItem": {"toId": "carol"}}, as_user="alice")
    api_ok(srv, "/v1/user/data/modifyUserInfo", {"friendAllowType": 2}, as_user="dave")
    d = api_ok(srv, FS + "addFriend", {"toItem": {"toId": "dave", "addWording": "hi"}},
               as_user="bob")
    assert d["added"] is False, d       # a pending request
    api_ok(srv, FS + "addBlack", {"toId": "dave"}, as_user="carol")
    api_ok(srv, FG + "add", {"groupName": "work", "toIds": ["bob"]}, as_user="alice")
    gid = group_create(srv, "alice", ["bob", "carol"], gtype=2, applyJoinType=1)
    b = Dev(srv, "bob", WEB, "tcp")
    for dev in (a, b, a):
        gsend(dev, gid)
    jr = api_ok(srv, G + "applyJoinGroup", {"groupId": gid, "wording": "me too"}, as_user="dave")
    assert jr["joined"] is False, jr
    api_ok(srv, "/v1/user/setUserCustomerStatus",
           {"userId": "alice", "customText": "lunch", "customStatus": 2}, as_user="alice")
    st, r = app_register(srv, "Zed.Demo", "password-zed")
    assert st == 200 and r["code"] == 200, r
    srv.close_clients()
    return gid


def state(srv, gid):
    """What the server serves, for a before/after comparison."""
    s = {}
    for u in USERS:
        s["sync", u] = sync_all(srv, u, limit=2)
        s["conv", u] = conv_page(srv, u)["dataList"]
        s["friends", u] = api_ok(srv, FS + "syncFriendshipList", {"lastSequence": 0}, u)
        s["requests", u] = api_ok(srv, FR + "syncFriendshipRequest", {"lastSequence": 0}, u)
        s["lists", u] = api_ok(srv, FG + "syncFriendshipGroupList", {"lastSequence": 0}, u)
        s["joined", u] = api_ok(srv, G + "getJoinedGroup", {}, u)
        s["seqs", u] = api_ok(srv, "/v1/user/getUserSequence", {}, u)
    for owner, peer in (("alice", "bob"), ("bob", "alice"), ("alice", "carol"),
                        ("carol", "alice")):
        s["range", owner, peer] = msg_range(srv, owner, peer, 1)
        s["history", owner, peer] = history(srv, owner, peer, 0, limit=2)
    s["users"] = api_ok(srv, "/v1/user/data/getUserInfo", {"userIds": USERS})
    s["group"] = api_ok(srv, G + "getGroupInfo", {"groupId": gid}, "alice")
    s["gsync"] = group_sync(srv, gid, "bob", limit=2)
    s["ghistory"] = api_ok(srv, "/v1/message/queryGroupMessageHistory", {"groupId": gid},
                           "carol")
    s["gjoin"] = api_ok(srv, G + "getJoinRequest", {"groupId": gid}, "alice")
    return s


def test_copy_then_serve_from_postgres(server, tmp_path):
    # --- on SQLite, history rows left waiting (a batch far larger than the test) ---
    data = str(tmp_path / "sqlite-data")
    s1 = server("--store=sqlite", "--store-history-batch=100000", data_dir=data)
    gid = populate(s1)
    before = state(s1, gid)
    # what is compared is not empty
    assert len(before["sync", "alice"]) == 6 and len(before["range", "alice", "bob"]) == 4
    assert sum(r.get("delFlag") == 1 for r in before["range", "bob", "alice"]) == 1
    assert before["friends", "alice"]["dataList"] and before["lists", "alice"]["dataList"]
    assert before["requests", "dave"]["dataList"] and before["gjoin"]["dataList"]
    assert len(before["gsync"]["dataList"]) == 2 and before["conv", "alice"]
    s1.kill()       # the history rows never got written: the copy must write them
    db = sqlite3.connect(os.path.join(data, "petrel.db"))
    bodies, rows = db.execute("SELECT (SELECT count(*) FROM im_message_body), "
                              "(SELECT count(*) FROM im_message_history)").fetchone()
    db.close()
    assert bodies == 6 and rows < 2 * bodies, (bodies, rows)

    url = fresh_db()
    r = copy(data, url)
    assert r.returncode == 0, "copy-sqlite failed: %s\n%s" % (r.stdout, r.stderr)
    out = r.stdout
    assert "im_message_history" in out and "verified" in out and "done:" in out, out
    counts = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines()
              if ln.startswith("  ") and ln.rstrip().endswith("rows")}
    assert counts["im_message_body"] == 6 and counts["im_message_history"] == 12, out
    assert counts["im_group_message"] == 3 and counts["app_account"] == 1, out
    assert counts["im_user_status"] == 1 and counts["im_group_request"] == 1, out
    assert counts["im_friendship_request"] == 1 and counts["im_friend_group"] == 1, out

    # the counters continue the data (SQL level)
    pair = psql(url, "SELECT value FROM im_counter WHERE kind = 1 AND k1 = 'alice' "
                     "AND k2 = 'bob'")
    assert pair == [["4"]], pair
    key = psql(url, "SELECT value >= (SELECT max(message_key) FROM im_group_message) "
                    "FROM im_counter WHERE kind = 2")
    assert key == [["t"]], key

    # copying again (the destination now holds data) is refused
    again = copy(data, url)
    assert again.returncode == 1 and "already holds data" in again.stderr, \
        (again.returncode, again.stdout, again.stderr)
    assert psql(url, "SELECT count(*) FROM im_message_body") == [["6"]]
    # a destination that is not PostgreSQL is refused
    bad = copy(data, "sqlite")
    assert bad.returncode == 1 and "must be PostgreSQL" in bad.stderr, bad.stderr

    # --- on PostgreSQL: the same answers, and the numbers go on ---
    s2 = server("--store=" + url, app_secret=s1.secret, data_dir=str(tmp_path / "pg-data"))
    s2.imported.update(USERS)
    after = state(s2, gid)
    for k in before:
        assert after[k] == before[k], "%r differs after the copy:\n  SQLite     %r\n  " \
            "PostgreSQL %r" % (k, before[k], after[k])
    st, r = app_login(s2, "zed.demo", "password-zed")       # any case, like SQLite
    assert st == 200 and r["code"] == 200, r

    a = Dev(s2, "alice", WEB, "tcp")
    m = mk("bob")
    a.send(MSG_P2P, m)
    assert check_ack(a.take_ack(m["messageId"]), m["messageId"], "bob")["messageSequence"] == 5
    d = api_ok(s2, "/v1/message/send", {"fromId": "bob", "toId": "alice", "messageBody": "z"},
               as_user="admin")
    assert d["messageSequence"] == 6, d
    seqs = [x["messageSequence"] for x in msg_range(s2, "alice", "bob", 1)]
    assert seqs == [1, 2, 3, 4, 5, 6], seqs
    keys = [x["messageKey"] for x in sync_all(s2, "alice")]
    assert len(keys) == len(set(keys)), keys
    _, gd = gsend(a, gid)
    assert gd["messageSequence"] == 4, gd
    fl = api_ok(s2, FG + "add", {"groupName": "home"}, as_user="alice")
    assert fl["sequence"] == before["lists", "alice"]["maxSequence"] + 1, fl
    s2.close_clients()


def test_copy_refuses_a_database_with_data(server, tmp_path):
    data = str(tmp_path / "sqlite-data")
    s1 = server("--store=sqlite", data_dir=data)
    s1.ensure_users(["alice"])
    assert s1.stop() == 0
    url = fresh_db()
    psql(url, "CREATE TABLE app (app_id integer PRIMARY KEY)")
    r = copy(data, url)
    assert r.returncode == 1, (r.stdout, r.stderr)
    # a petreld on that database first (the default app row): refused, untouched
    url2 = fresh_db()
    s2 = server("--store=" + url2, app_secret=s1.secret, data_dir=str(tmp_path / "pg"))
    assert s2.stop() == 0
    r = copy(data, url2)
    assert r.returncode == 1 and "already holds data (app)" in r.stderr, r.stderr
    assert psql(url2, "SELECT count(*) FROM im_user") == [["0"]]
    # no SQLite database at all
    r = copy(str(tmp_path / "nothing-here"), fresh_db())
    assert r.returncode == 1 and "no SQLite database" in r.stderr, r.stderr


def test_copy_verification_rolls_back_a_difference(server, tmp_path):
    """A destination that stores something else than it was given (here a
    trigger moving one pair's sequences) fails the check before COMMIT:
    nothing stays behind."""
    data = str(tmp_path / "sqlite-data")
    s1 = server("--store=sqlite", data_dir=data)
    s1.ensure_users(["alice", "bob"])
    for frm, to in (("alice", "bob"), ("bob", "alice")):
        api_ok(s1, "/v1/message/send", {"fromId": frm, "toId": to, "messageBody": "x"})
    assert s1.stop() == 0
    url = fresh_db()
    s2 = server("--store=" + url, app_secret=s1.secret, data_dir=str(tmp_path / "pg"))
    assert s2.stop() == 0           # the schema, and the default app row: take it out
    psql(url, "DELETE FROM app")
    psql(url, "CREATE FUNCTION shift() RETURNS trigger LANGUAGE plpgsql AS "
              "$$BEGIN NEW.sequence := NEW.sequence + 100; RETURN NEW; END$$")
    psql(url, "CREATE TRIGGER shift BEFORE INSERT ON im_message_body "
              "FOR EACH ROW EXECUTE FUNCTION shift()")
    r = copy(data, url)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "verification failed: one-to-one pair" in r.stderr and "alice bob" in r.stderr, \
        r.stderr
    for t in ("app", "im_user", "im_message_body", "im_message_history", "im_counter"):
        assert psql(url, "SELECT count(*) FROM " + t) == [["0"]], t
