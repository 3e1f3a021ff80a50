"""Privacy of other users' data (issue 14, relations follow-up): each leak
is performed by an unrelated live user against a real petreld, and the
private fields are asserted absent, while the owner and the app admin still
see them (docs/SECURITY.md, "### Relation rules", public profile).

  1  user reads (getUserInfo, getSingleInfo, getSingleUserInfo,
     queryImUserPage) show others only the public profile;
  2  a blacklist rejects the blacklisted user's pending request to the
     blacklister, in the same write, text cleared;
  3  same class: a friend request's remark (the requester's private note)
     is not shown to the addressee, nor the adder's remark in the 3000 push
     to the added user; a public group's outsiders see members' ids, roles
     and aliases only."""
import pytest

from test_messages import WEB, Dev
from test_presence import fails, ok

U = "/v1/user/data/"
FS = "/v1/friendship/"
FR = "/v1/friendshipRequest/"
G = "/v1/group/"
FRIEND_ADD, FRIEND_REQUEST, FRIEND_REQUEST_APPROVER = 3000, 3003, 3005
USERS = ["victim", "mallory", "friend", "carol"]

PUBLIC = {"userId", "appId", "nickName", "photo", "userSex", "selfSignature",
          "friendAllowType", "disableAddFriend"}
PRIVATE = {"birthDay", "location", "forbiddenFlag", "silentFlag", "userType", "extra",
           "delFlag", "createTime", "updateTime"}
SECRET = "s3cret-private"


@pytest.fixture
def psrv(server):
    s = server()
    s.ensure_users(USERS)
    return s


def profile_setup(s):
    ok(s, U + "modifyUserInfo", {"userId": "victim", "nickName": "Vic", "photo": "p.png",
                                 "userSex": 2, "selfSignature": "hello", "birthDay": SECRET + "-bd",
                                 "location": SECRET + "-loc", "extra": SECRET + "-extra",
                                 "silentFlag": 1, "userType": 7, "friendAllowType": 2})


def assert_public(row, who):
    assert set(row) == PUBLIC, "%s sees %r" % (who, sorted(set(row) - PUBLIC))
    assert SECRET not in repr(row), row
    assert (row["userId"], row["nickName"], row["photo"], row["userSex"], row["selfSignature"],
            row["friendAllowType"], row["disableAddFriend"]) \
        == ("victim", "Vic", "p.png", 2, "hello", 2, 0), row


def assert_full(row, who):
    assert PUBLIC | PRIVATE <= set(row), "%s misses %r" % (who, sorted(PUBLIC | PRIVATE - set(row)))
    assert (row["birthDay"], row["location"], row["extra"], row["silentFlag"], row["userType"],
            row["forbiddenFlag"], row["delFlag"]) \
        == (SECRET + "-bd", SECRET + "-loc", SECRET + "-extra", 1, 7, 0, 0), row


# ============================================================ 1: user reads
def test_user_reads_show_others_only_the_public_profile(psrv):
    s = psrv
    profile_setup(s)
    reads = {
        "getUserInfo": lambda who: ok(s, U + "getUserInfo", {"userIds": ["victim"]},
                                      who)["userDataItem"][0],
        "getSingleInfo": lambda who: ok(s, U + "getSingleInfo", {"userId": "victim"}, who),
        "getSingleUserInfo": lambda who: ok(s, U + "getSingleUserInfo", {"userId": "victim"},
                                            who),
        "queryImUserPage": lambda who: [r for r in ok(s, U + "queryImUserPage",
                                                      {"nickName": "Vic"}, who)["records"]
                                        if r["userId"] == "victim"][0],
    }
    for name, read in reads.items():
        # the attack: an unrelated user, and a friend, read the victim's row
        assert_public(read("mallory"), "mallory via " + name)
    ok(s, FS + "importFriendShip", {"fromId": "victim", "friendItem": [{"toId": "friend"}]})
    ok(s, FS + "importFriendShip", {"fromId": "friend", "friendItem": [{"toId": "victim"}]})
    for name, read in reads.items():
        assert_public(read("friend"), "friend via " + name)
        # the admin sees the whole row
        assert_full(read("admin"), "admin via " + name)
    # the victim sees its own whole row (the page leaves the searcher out)
    for name in ("getUserInfo", "getSingleInfo", "getSingleUserInfo"):
        assert_full(reads[name]("victim"), "victim via " + name)
    assert_full(ok(s, U + "getSingleUserInfo", {}, "victim"), "victim, no userId")
    # a mixed batch: the reader's own row whole, the other public
    rows = {r["userId"]: r for r in ok(s, U + "getUserInfo", {"userIds": ["victim", "mallory"]},
                                       "mallory")["userDataItem"]}
    assert_public(rows["victim"], "mallory, batch")
    assert PRIVATE <= set(rows["mallory"]), rows["mallory"]


def test_moderation_state_is_not_shown_to_others(psrv):
    s = psrv
    ok(s, U + "modifyUserInfo", {"userId": "carol", "silentFlag": 1, "userType": 100})
    for path, body in ((U + "getUserInfo", {"userIds": ["carol"]}),
                       (U + "getSingleUserInfo", {"userId": "carol"})):
        d = ok(s, path, body, "mallory")
        row = d["userDataItem"][0] if "userDataItem" in d else d
        assert not PRIVATE & set(row), (path, row)
    row = ok(s, U + "getSingleUserInfo", {"userId": "carol"}, "admin")
    assert (row["silentFlag"], row["userType"]) == (1, 100), row
    # the user's own modify answer and 4000 push still carry what it changed
    d = ok(s, U + "modifyUserInfo", {"location": "here", "nickName": "C"}, "carol")
    assert (d["location"], d["nickName"]) == ("here", "C"), d


# ================================================ 2: blacklist vs pending request
def test_blacklist_rejects_pending_request_of_the_blacklisted(psrv):
    s = psrv
    ok(s, U + "modifyUserInfo", {"userId": "victim", "friendAllowType": 2})
    v = Dev(s, "victim", WEB)
    m = Dev(s, "mallory", WEB)
    spam = "SPAM-" + SECRET
    rq = ok(s, FS + "addFriend", {"toItem": {"toId": "victim", "addWording": spam}}, "mallory")
    legit = ok(s, FS + "addFriend", {"toItem": {"toId": "victim", "addWording": "hi, carol"}},
               "carol")
    v.take(FRIEND_REQUEST)
    v.take(FRIEND_REQUEST)
    seq_before = ok(s, "/v1/user/getUserSequence", {}, "victim")["friendshipRequestSeq"]

    ok(s, FS + "addBlack", {"toId": "mallory"}, "victim")
    # the blacklister's devices learn the request is decided (rejected)
    d = v.take(FRIEND_REQUEST_APPROVER).data
    assert (d["id"], d["status"]) == (rq["requestId"], 2) and d["sequence"] > seq_before, d
    m.expect_none({FRIEND_REQUEST_APPROVER, FRIEND_ADD, FRIEND_REQUEST}, wait=0.2)

    # the request text is gone from every read, and it is no longer pending
    reqs = ok(s, FR + "getFriendRequest", {}, "victim")
    assert spam not in repr(reqs), reqs
    mine = [r for r in reqs if r["fromId"] == "mallory"]
    assert [(r["id"], r["approveStatus"], r["addWording"]) for r in mine] \
        == [(rq["requestId"], 2, "")], reqs
    sync = ok(s, FR + "syncFriendshipRequest", {"lastSequence": seq_before}, "victim")
    assert [(r["fromId"], r["approveStatus"]) for r in sync["dataList"]] == [("mallory", 2)], sync
    assert spam not in repr(ok(s, FR + "syncFriendshipRequest", {"lastSequence": 0}, "victim"))
    assert ok(s, "/v1/user/getUserSequence", {}, "victim")["friendshipRequestSeq"] \
        == d["sequence"]
    # approving it now is refused as decided; mallory cannot ask again
    fails(s, FR + "approveFriendRequest", {"id": rq["requestId"], "status": 1}, "victim", 30013)
    fails(s, FS + "addFriend", {"toItem": {"toId": "victim", "addWording": spam}}, "mallory",
          30007)
    assert spam not in repr(ok(s, FR + "getFriendRequest", {}, "victim"))

    # legitimate: carol's request is untouched and can be approved
    c = [r for r in ok(s, FR + "getFriendRequest", {}, "victim") if r["fromId"] == "carol"][0]
    assert (c["id"], c["approveStatus"], c["addWording"]) == (legit["requestId"], 0, "hi, carol")
    ok(s, FR + "approveFriendRequest", {"id": legit["requestId"], "status": 1}, "victim")
    assert v.take(FRIEND_REQUEST_APPROVER).data["id"] == legit["requestId"]
    assert ok(s, FS + "getRelation", {"toId": "carol"}, "victim")["status"] == 1
    # a blacklist without a pending request still works; after deleteBlack
    # mallory may ask again (a new pending request)
    ok(s, FS + "addBlack", {"toId": "friend"}, "victim")
    v.expect_none({FRIEND_REQUEST_APPROVER}, wait=0.2)
    ok(s, FS + "deleteBlack", {"toId": "mallory"}, "victim")
    again = ok(s, FS + "addFriend", {"toItem": {"toId": "victim", "addWording": "sorry"}},
               "mallory")
    assert again["added"] is False and again["requestId"] != rq["requestId"], again
    pend = [r for r in ok(s, FR + "getFriendRequest", {}, "victim")
            if r["fromId"] == "mallory" and r["approveStatus"] == 0]
    assert [r["addWording"] for r in pend] == ["sorry"], pend


def test_blacklister_own_request_stays_but_cannot_be_approved(psrv):
    s = psrv
    ok(s, U + "modifyUserInfo", {"userId": "mallory", "friendAllowType": 2})
    rq = ok(s, FS + "addFriend", {"toItem": {"toId": "mallory"}}, "victim")
    ok(s, FS + "addBlack", {"toId": "mallory"}, "victim")
    # mallory is not told of the blacklist by a change to the request...
    r = [x for x in ok(s, FR + "getFriendRequest", {}, "mallory") if x["id"] == rq["requestId"]]
    assert r[0]["approveStatus"] == 0, r
    # ...but approving it makes no friendship
    fails(s, FR + "approveFriendRequest", {"id": rq["requestId"], "status": 1}, "mallory", 30007)
    assert ok(s, FS + "getRelation", {"toId": "mallory"}, "victim")["status"] == 0


# ====================================== 3: friend-request remarks, 3000 pushes
def test_request_remark_is_the_requesters_private_note(psrv):
    s = psrv
    ok(s, U + "modifyUserInfo", {"userId": "victim", "friendAllowType": 2})
    v = Dev(s, "victim", WEB)
    m = Dev(s, "mallory", WEB)
    note = SECRET + "-what-mallory-calls-victim"
    rq = ok(s, FS + "addFriend", {"toItem": {"toId": "victim", "remark": note,
                                             "addWording": "hello", "addSource": "qr"}},
            "mallory")
    # the addressee's push and reads carry the wording, not the remark
    p = v.take(FRIEND_REQUEST).data
    assert "remark" not in p and note not in repr(p), p
    assert (p["addWording"], p["addSource"]) == ("hello", "qr"), p
    for path, body in (("getFriendRequest", {}), ("syncFriendshipRequest", {"lastSequence": 0})):
        d = ok(s, FR + path, body, "victim")
        assert note not in repr(d), (path, d)
        rows = d if isinstance(d, list) else d["dataList"]
        assert [r["addWording"] for r in rows] == ["hello"], rows
    # the app admin reads it whole
    rows = ok(s, FR + "getFriendRequest", {"fromId": "victim"}, "admin")
    assert [r["remark"] for r in rows] == [note], rows

    # approved: the requester's 3000 carries its remark, the addressee's not
    ok(s, FR + "approveFriendRequest", {"id": rq["requestId"], "status": 1}, "victim")
    pm = m.take(FRIEND_ADD).data
    pv = v.take(FRIEND_ADD).data
    assert pm["remark"] == note, pm
    assert "remark" not in pv and note not in repr(pv), pv
    # and the remark is on the requester's row only
    assert ok(s, FS + "getRelation", {"toId": "victim"}, "mallory")["remark"] == note
    assert ok(s, FS + "getRelation", {"toId": "mallory"}, "victim")["remark"] == ""


def test_direct_add_push_hides_adders_remark(psrv):
    s = psrv
    c = Dev(s, "carol", WEB)
    m = Dev(s, "mallory", WEB)
    note = SECRET + "-mallory-about-carol"
    assert ok(s, FS + "addFriend", {"toItem": {"toId": "carol", "remark": note}},
              "mallory")["added"] is True
    pc = c.take(FRIEND_ADD).data
    assert "remark" not in pc and note not in repr(pc), pc
    assert (pc["fromId"], pc["toId"]) == ("mallory", "carol"), pc
    assert m.take(FRIEND_ADD).data["remark"] == note


# ============================================ 3: public group member rows
def test_public_group_outsider_sees_ids_roles_aliases_only(psrv):
    s = psrv
    d = ok(s, G + "createGroup", {"groupType": 2, "groupName": "pub", "member": [
        {"memberId": "friend", "alias": "Fr", "extra": SECRET + "-member-extra"}]}, "victim")
    gid = d["groupId"]
    # the attack: an outsider reads the public group's member list
    g = ok(s, G + "getGroupInfo", {"groupId": gid}, "mallory")
    assert SECRET not in repr(g["memberList"]), g
    assert all(set(r) == {"memberId", "role", "alias"} for r in g["memberList"]), g
    assert {(r["memberId"], r["role"], r["alias"]) for r in g["memberList"]} \
        == {("victim", 2, ""), ("friend", 0, "Fr")}, g
    # members and the admin see the member rows whole
    for who in ("friend", "victim", "admin"):
        g = ok(s, G + "getGroupInfo", {"groupId": gid}, who)
        fr = [r for r in g["memberList"] if r["memberId"] == "friend"][0]
        assert fr["extra"] == SECRET + "-member-extra" and "readSequence" in fr, (who, fr)
    # a private group stays closed to outsiders
    d = ok(s, G + "createGroup", {"groupType": 1, "groupName": "priv"}, "victim")
    fails(s, G + "getGroupInfo", {"groupId": d["groupId"]}, "mallory", 40006)
