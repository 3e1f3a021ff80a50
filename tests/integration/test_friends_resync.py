"""A reconnecting device syncs friends, friend requests and friend lists to
exactly the server state (issue #5).

alice's device keeps a local copy of her three synchronised collections,
built the way a client builds it: a full sync (paged) and the sequences of
getUserSequence.  It goes offline; while it is away a seeded random series
of changes touches every kind of row (friends added, re-remarked, deleted,
blacklisted and released, requests created, refreshed, read, approved and
rejected, friend lists created, deleted, renamed into again and their
members changed), made by alice's other device and by the other users.  On
reconnect the device asks getUserSequence what changed and syncs only
from its own sequences, in small pages.  Its copy must then equal a fresh
full sync, and agree with the independent views (getAllFriendShip,
getFriendRequest, getRelation).
"""
import random

import pytest

from test_friends import FG, FR, FS, call, ok

USERS = ["alice", "bob", "carol", "dave", "erin", "fred", "gina", "hank"]
OTHERS = USERS[1:]
PAGE = 3        # small pages: every stream needs several

STREAMS = {
    # name: (sync path, sequence field of getUserSequence, row key, row sequence)
    "friends": (FS + "syncFriendshipList", "friendshipSeq", "toId", "friendSequence"),
    "requests": (FR + "syncFriendshipRequest", "friendshipRequestSeq", "id", "sequence"),
    "lists": (FG + "syncFriendshipGroupList", "friendshipGroupSeq", "groupId", "sequence"),
}


def sync_stream(srv, user, name, since, model):
    """Pages through one stream after `since`, upserting rows into model;
    returns the last sequence seen (since when nothing changed)."""
    path, _, key, seqf = STREAMS[name]
    last = since
    for _ in range(1000):
        d = ok(srv, path, {"lastSequence": last, "maxLimit": PAGE}, user)
        assert len(d["dataList"]) <= PAGE, d
        for row in d["dataList"]:
            assert row[seqf] > last, (name, last, row)     # strictly increasing
            last = row[seqf]
            model[row[key]] = row
        if d["completed"]:
            assert last == max(since, d["maxSequence"]) or not d["dataList"], (name, last, d)
            return last
        assert d["dataList"], d
    pytest.fail("%s sync did not complete" % name)


def full_state(srv, user):
    state = {}
    for name in STREAMS:
        model = {}
        sync_stream(srv, user, name, 0, model)
        state[name] = model
    return state


def attempt(srv, path, body, as_user):
    """A change that may be refused (a random series tries impossible ones
    too); a refusal must be a clean error envelope and change nothing."""
    st, doc = call(srv, path, body, as_user)
    assert st in (200, 400, 403) and isinstance(doc.get("code"), int), (path, body, st, doc)
    return doc


def random_change(srv, rnd, pending):
    who = rnd.choice(OTHERS)
    k = rnd.randrange(14)
    if k == 0:
        attempt(srv, "/v1/user/data/modifyUserInfo",
                {"friendAllowType": rnd.choice([1, 2])}, "alice")
    elif k in (1, 2):          # someone asks alice (request or at once)
        d = attempt(srv, FS + "addFriend",
                    {"toItem": {"toId": "alice", "remark": "r%d" % rnd.randrange(99),
                                "addWording": "hi %d" % rnd.randrange(99)}}, who)
        if d.get("code") == 200 and d["data"].get("requestId"):
            pending.add(d["data"]["requestId"])
    elif k == 3:               # alice adds someone
        attempt(srv, FS + "addFriend", {"toItem": {"toId": who}}, "alice")
    elif k == 4 and pending:   # alice decides a request
        rid = rnd.choice(sorted(pending))
        attempt(srv, FR + "approveFriendRequest", {"id": rid, "status": rnd.choice([1, 2])},
                "alice")
        pending.discard(rid)
    elif k == 5:
        attempt(srv, FR + "readFriendShipRequest", {}, "alice")
    elif k == 6:
        attempt(srv, FS + "updateFriend",
                {"toItem": {"toId": who, "remark": "R%d" % rnd.randrange(999)}}, "alice")
    elif k == 7:               # either side ends the friendship
        a, b = ("alice", who) if rnd.random() < 0.5 else (who, "alice")
        attempt(srv, FS + "deleteFriend", {"toId": b}, a)
    elif k == 8:
        attempt(srv, FS + "addBlack", {"toId": who}, "alice")
    elif k == 9:
        attempt(srv, FS + "deleteBlack", {"toId": who}, "alice")
    elif k == 10:
        attempt(srv, FG + "add", {"groupName": rnd.choice(["work", "gym", "family"]),
                                  "toIds": rnd.sample(OTHERS, 3)}, "alice")
    elif k == 11:
        attempt(srv, FG + "del", {"groupName": [rnd.choice(["work", "gym", "family"])]},
                "alice")
    elif k == 12:
        attempt(srv, FG + "member/" + rnd.choice(["add", "del"]),
                {"groupName": rnd.choice(["work", "gym", "family"]),
                 "toIds": rnd.sample(OTHERS, 2)}, "alice")
    else:                      # blacklist from the other side: alice's rows do not change
        attempt(srv, FS + "addBlack", {"toId": "alice"}, who)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reconnecting_device_syncs_to_exact_state(server, seed):
    srv = server()
    srv.ensure_users(USERS)
    rnd = random.Random(seed)
    pending = set()
    for _ in range(40):                              # history before the device
        random_change(srv, rnd, pending)

    # the device: a full sync, and where it stands
    local = full_state(srv, "alice")
    seqs = ok(srv, "/v1/user/getUserSequence", {}, "alice")
    mark = {name: seqs[STREAMS[name][1]] for name in STREAMS}
    for name, model in local.items():
        top = max([r[STREAMS[name][3]] for r in model.values()] or [0])
        assert top == mark[name], (name, top, mark)

    # offline while the others (and alice's other device) change things
    for _ in range(120):
        random_change(srv, rnd, pending)

    # reconnect: only what changed, from the device's own sequences
    now = ok(srv, "/v1/user/getUserSequence", {}, "alice")
    for name in STREAMS:
        assert now[STREAMS[name][1]] >= mark[name], (name, now, mark)
        if now[STREAMS[name][1]] > mark[name]:
            last = sync_stream(srv, "alice", name, mark[name], local[name])
            assert last == now[STREAMS[name][1]], (name, last, now)

    fresh = full_state(srv, "alice")
    for name in STREAMS:
        assert local[name] == fresh[name], name
    assert any(local["friends"].values()) and local["requests"] and local["lists"], \
        "the random series should touch every collection: %r" % {k: len(v) for k, v in
                                                                  local.items()}

    # the independent views agree with the synced copy
    live = {t for t, r in local["friends"].items() if r["status"] == 1}
    got = ok(srv, FS + "getAllFriendShip", {}, "alice")
    assert {r["toId"] for r in got} == live, (got, live)
    for t, r in local["friends"].items():
        rel = ok(srv, FS + "getRelation", {"toId": t}, "alice")
        assert (rel["status"], rel["black"], rel["remark"]) == \
            (r["status"], r["black"], r["remark"]), (t, rel, r)
    reqs = ok(srv, FR + "getFriendRequest", {}, "alice")
    assert {q["id"]: (q["approveStatus"], q["readStatus"], q["addWording"]) for q in reqs} == \
        {i: (q["approveStatus"], q["readStatus"], q["addWording"])
         for i, q in local["requests"].items()}
    for lst in local["lists"].values():
        if lst["delFlag"] == 0:
            assert set(lst["toIds"]) <= live, lst    # members are live friends
        else:
            assert lst["toIds"] == [], lst
