"""The authorization walk (issue 14, "Tests and checks"): every REST path of
the route table in src/server/api/api.c and every socket command, called as an
unrelated user, as a forbidden user, as a deleted user and as a signed
identifier that is no user at all, must give the answer documented in
docs/SECURITY.md ("## Authorization").

The victim owns private data that carries the marker VSECRET (messages,
friend remarks, a friend list, a friend request's wording, a private
group, a custom status, a device id).  An unrelated user either gets the
documented refusal code, or a success that contains no VSECRET.

The walk fails when a route is added to api.c, or a command to the socket
dispatch, without a row in docs/SECURITY.md and an entry here (WALK,
SOCKET_WALK): the three lists are compared first."""
import json
import os
import re
import time

import petrelproto as pp
from conftest import SLOW

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECRET = "VSECRET"

# ------------------------------------------------------------ the documents


def api_routes():
    """(path, auth) of every row of the route table in src/server/api/api.c."""
    src = open(os.path.join(ROOT, "src", "server", "api", "api.c")).read()
    table = src[src.index("static const route_t routes[]"):]
    table = table[:table.index("};")]
    rows = re.findall(r'\{"(/[^"]*)",\s*h_\w+,\s*(AUTH|NOAUTH),', table)
    assert len(rows) > 50, "cannot parse the route table of api.c"
    return dict(rows)


def socket_commands():
    """Command names the socket accepts: those registered in the gateway's
    command table (gw_command_register in gateway/*.c) and the cases of the
    domain dispatchers (im/msg.c, im/gmsg.c, gateway/cmd_*.c)."""
    names = set()
    gwdir = os.path.join(ROOT, "src", "server", "gateway")
    imdir = os.path.join(ROOT, "src", "server", "im")
    for f in sorted(os.listdir(gwdir)):
        if f.endswith(".c"):
            src = open(os.path.join(gwdir, f)).read()
            names |= set(re.findall(r"gw_command_register\(\s*PETREL_CMD_(\w+)", src))
    dispatchers = [os.path.join(imdir, f) for f in ("msg.c", "gmsg.c")]
    dispatchers += [os.path.join(gwdir, f) for f in sorted(os.listdir(gwdir))
                    if f.startswith("cmd_") and f.endswith(".c")]
    for path in dispatchers:
        if os.path.exists(path):
            names |= set(re.findall(r"case PETREL_CMD_(\w+):", open(path).read()))
    return names


def security_tables():
    """{path: (unrelated, forbidden)} and {command: (unrelated, forbidden)}
    from docs/SECURITY.md: the first backticked number of each answer cell,
    or None when the cell has none ("n/a")."""
    text = open(os.path.join(ROOT, "docs", "SECURITY.md")).read()
    text = text[text.index("## Authorization"):]
    rest, sock = {}, {}

    def code(cell):
        m = re.search(r"`(\d+)`", cell)
        return int(m.group(1)) if m else None

    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        m = re.fullmatch(r"`(/[^`]*)`", cells[0])
        if m:
            assert m.group(1) not in rest, "%s listed twice in SECURITY.md" % m.group(1)
            rest[m.group(1)] = (code(cells[2]), code(cells[3]))
            continue
        m = re.fullmatch(r"(\d+) `([A-Z_0-9]+)`", cells[0])
        if m:
            sock[m.group(2)] = (code(cells[2]), code(cells[3]))
    return rest, sock


# ------------------------------------------------------------ the scene

USERS = ["victim", "vfriend", "asker", "mallory", "banned", "gone"]


def call(srv, path, body, as_user):
    st, doc = srv.api(path, body, as_user=as_user)
    return st, doc


def ok(srv, path, body, as_user="admin"):
    st, doc = call(srv, path, body, as_user)
    assert st == 200 and doc.get("code") == 200, "%s as %s: %d %r" % (path, as_user, st, doc)
    return doc.get("data")


class Scene:
    pass


def build_scene(srv):
    """The victim's private data, all marked VSECRET."""
    s = Scene()
    srv.ensure_users(USERS)
    ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "victim", "friendAllowType": 2})
    ok(srv, "/v1/friendship/importFriendShip",
       {"fromId": "victim", "friendItem": [{"toId": "vfriend", "remark": SECRET + "-remark"}]})
    ok(srv, "/v1/friendship/importFriendShip",
       {"fromId": "vfriend", "friendItem": [{"toId": "victim", "remark": SECRET + "-remark2"}]})
    ok(srv, "/v1/friendship/group/add", {"groupName": SECRET + "-list", "toIds": ["vfriend"]},
       "victim")
    d = ok(srv, "/v1/friendship/addFriend",
           {"toItem": {"toId": "victim", "addWording": SECRET + "-wording"}}, "asker")
    s.request_id = d["requestId"]
    d = ok(srv, "/v1/message/send", {"fromId": "victim", "toId": "vfriend",
                                     "messageId": "v-1", "messageBody": SECRET + "-msg"})
    s.message_key = d["messageKey"]
    ok(srv, "/v1/group/createGroup", {"groupId": "vgroup", "groupType": 1,
                                      "groupName": SECRET + "-group", "applyJoinType": 2,
                                      "member": ["vfriend"]}, "victim")
    ok(srv, "/v1/group/sendMessage", {"fromId": "victim", "groupId": "vgroup",
                                      "messageId": "g-1", "messageBody": SECRET + "-gmsg"})
    ok(srv, "/v1/user/setUserCustomerStatus", {"customText": SECRET + "-status",
                                               "customStatus": 7}, "victim")
    s.victim_dev = srv.login("victim", imei=SECRET + "-imei")
    # the forbidden and the deleted user
    ok(srv, "/v1/user/data/modifyUserInfo", {"userId": "banned", "forbiddenFlag": 1})
    ok(srv, "/v1/user/deleteUser", {"userId": ["gone"]})
    return s


# ------------------------------------------------------------ REST walk
# path -> body an unrelated user (mallory) sends, aimed at the victim's data.
V = "victim"
WALK = {
    "/v1/user/importUser": {"userData": [{"userId": "mallory2"}]},
    "/v1/user/deleteUser": {"userId": [V]},
    "/v1/user/login": {"clientType": 1},
    "/v1/user/getUserSequence": {"userId": V},
    "/v1/user/data/getUserInfo": {"userIds": [V]},
    "/v1/user/data/getSingleInfo": {"userId": V},
    "/v1/user/data/getSingleUserInfo": {"userId": V},
    "/v1/user/data/modifyUserInfo": {"userId": V, "nickName": "pwned"},
    "/v1/user/data/queryImUserPage": {"nickName": "vic"},
    "/v1/user/subscribeUserOnlineStatus": {"userId": V, "subUserIds": ["vfriend"],
                                           "subTime": 60000},
    "/v1/user/setUserCustomerStatus": {"userId": V, "customText": "pwned"},
    "/v1/user/queryFriendOnlineStatus": {"userId": V},
    "/v1/user/queryUserOnlineStatus": {"userIdList": [V]},
    "/v1/message/send": {"fromId": V, "toId": "vfriend", "messageId": "m-x",
                         "messageBody": "pwned"},
    "/v1/message/syncOfflineMessage": {"operator": V, "lastSequence": 0},
    "/v1/message/queryP2pMessageHistory": {"ownerId": V, "toId": "vfriend"},
    "/v1/message/getP2pMessageRange": {"ownerId": V, "toId": "vfriend", "fromSequence": 1},
    "/v1/conversation/syncConversationList": {"operator": V, "lastSequence": 0},
    "/v1/conversation/syncConversationSet": {"operator": V, "lastSequence": 0},
    "/v1/conversation/updateConversation": {"conversationId": "0_victim_vfriend",
                                            "isTop": 1},
    "/v1/conversation/deleteConversation": {"conversationId": "0_victim_vfriend"},
    "/v1/friendship/importFriendShip": {"fromId": V, "friendItem": [{"toId": "mallory"}]},
    "/v1/friendship/addFriend": {"fromId": V, "toItem": {"toId": "mallory"}},
    "/v1/friendship/updateFriend": {"fromId": V, "toItem": {"toId": "vfriend",
                                                            "remark": "pwned"}},
    "/v1/friendship/deleteFriend": {"fromId": V, "toId": "vfriend"},
    "/v1/friendship/deleteAllFriend": {"fromId": V},
    "/v1/friendship/getAllFriendShip": {"fromId": V},
    "/v1/friendship/getRelation": {"fromId": V, "toId": "vfriend"},
    "/v1/friendship/checkFriend": {"fromId": V, "toIds": ["vfriend"]},
    "/v1/friendship/chekFriendship": {"fromId": V, "toIds": ["vfriend"]},
    "/v1/friendship/addBlack": {"fromId": V, "toId": "vfriend"},
    "/v1/friendship/deleteBlack": {"fromId": V, "toId": "vfriend"},
    "/v1/friendship/checkBlack": {"fromId": V, "toIds": ["vfriend"]},
    "/v1/friendship/checkBlck": {"fromId": V, "toIds": ["vfriend"]},
    "/v1/friendship/syncFriendshipList": {"fromId": V, "lastSequence": 0},
    "/v1/friendshipRequest/getFriendRequest": {"fromId": V},
    "/v1/friendshipRequest/approveFriendRequest": {"id": "REQUEST_ID", "status": 1},
    "/v1/friendshipRequest/readFriendShipRequest": {"fromId": V},
    "/v1/friendshipRequest/readFriendShipRequestReq": {"fromId": V},
    "/v1/friendshipRequest/syncFriendshipRequest": {"fromId": V, "lastSequence": 0},
    "/v1/friendship/group/add": {"fromId": V, "groupName": "pwned"},
    "/v1/friendship/group/del": {"fromId": V, "groupName": [SECRET + "-list"]},
    "/v1/friendship/group/member/add": {"fromId": V, "groupName": SECRET + "-list",
                                        "toIds": ["vfriend"]},
    "/v1/friendship/group/member/del": {"fromId": V, "groupName": SECRET + "-list",
                                        "toIds": ["vfriend"]},
    "/v1/friendship/group/syncFriendshipGroupList": {"fromId": V, "lastSequence": 0},
    "/v1/group/importGroup": {"groupId": "g2", "groupType": 1, "ownerId": V,
                              "groupName": "x"},
    "/v1/group/createGroup": {"groupId": "g3", "groupType": 1, "ownerId": V,
                              "groupName": "x", "member": ["vfriend"]},
    "/v1/group/getGroupInfo": {"groupId": "vgroup"},
    "/v1/group/getJoinedGroup": {"memberId": V},
    "/v1/group/update": {"groupId": "vgroup", "groupName": "pwned"},
    "/v1/group/destroyGroup": {"groupId": "vgroup"},
    "/v1/group/transferGroup": {"groupId": "vgroup", "ownerId": "mallory"},
    "/v1/group/forbidSendMessage": {"groupId": "vgroup", "mute": 1},
    "/v1/group/syncJoinedGroup": {"operator": V, "lastSequence": 0},
    "/v1/group/sendMessage": {"fromId": V, "groupId": "vgroup", "messageId": "g-x",
                              "messageBody": "pwned"},
    "/v1/group/member/importGroupMember": {"groupId": "vgroup", "members": ["mallory"]},
    "/v1/group/member/add": {"groupId": "vgroup", "members": ["mallory"]},
    "/v1/group/member/remove": {"groupId": "vgroup", "memberId": "vfriend"},
    "/v1/group/member/exitGroup": {"groupId": "vgroup"},
    "/v1/group/member/update": {"groupId": "vgroup", "memberId": "vfriend", "extra": "pwned"},
    "/v1/group/member/speak": {"groupId": "vgroup", "memberId": "vfriend",
                               "speakDate": 60000},
    "/v1/group/applyJoinGroup": {"groupId": "vgroup", "wording": "let me in"},
    "/v1/group/getJoinRequest": {"groupId": "vgroup"},
    "/v1/group/approveJoinRequest": {"groupId": "vgroup", "requestId": 1, "status": 1},
    "/v1/group/message/syncGroupMessage": {"groupId": "vgroup", "lastSequence": 0},
    "/v1/group/message/getReadCount": {"groupId": "vgroup", "messageSequence": 1},
    "/v1/message/queryGroupMessageHistory": {"groupId": "vgroup"},
    "/v1/app/getSetting": {},
    "/v1/app/updateSetting": {"settings": {"sendMessageCheckBlack": False}},
    # no identity: not user-bound; walked without a token
    "/app/v1/register": {"userName": "walker", "password": "walker-password-1"},
    "/app/v1/login": {"userName": "victim", "password": "wrong-password"},
    "/app/v1/callback": {"command": "x"},
    "/healthz": None,
    "/metrics": None,
}

# socket command -> (command number, body mallory sends at the victim's data)
SOCKET_WALK = {
    "LOGIN": (pp.LOGIN, None),          # special: mallory's token, the victim's userId
    "LOGOUT": (pp.LOGOUT, {"fromId": V}),
    "PING": (pp.PING, {}),
    "MSG_P2P": (pp.MSG_P2P, {"fromId": V, "toId": "vfriend", "messageId": "s-1",
                             "messageBody": "pwned"}),
    "MSG_RECEIVE_ACK": (1107, {"fromId": V, "toId": "vfriend", "messageKey": 1}),
    "MSG_READED": (1106, {"fromId": V, "toId": "vfriend", "messageSequence": 1}),
    "MSG_RECALL": (1050, {"fromId": V, "toId": "vfriend", "messageKey": 1}),
    "MSG_GROUP": (2104, {"fromId": V, "groupId": "vgroup", "messageId": "s-2",
                         "messageBody": "pwned"}),
    "MSG_GROUP_READED": (2106, {"fromId": V, "groupId": "vgroup", "messageSequence": 1}),
}
# the same commands without fromId: mallory acting as itself on the victim's
# data -> refused with an error/ack code, or (read marks, which have no
# answer) silently without effect (the victim's devices see nothing)
SOCKET_OWN = {
    "MSG_RECALL": ({"toId": "vfriend", "messageKey": "MESSAGE_KEY"}, "refused"),
    "MSG_GROUP": ({"groupId": "vgroup", "messageId": "s-3", "messageBody": "pwned"},
                  "refused"),
    "MSG_GROUP_READED": ({"groupId": "vgroup", "messageSequence": 1}, "silent"),
}


def test_lists_match():
    """api.c, docs/SECURITY.md and this walk list the same paths and
    commands: a new route or command needs all three."""
    routes = api_routes()
    rest, sock = security_tables()
    assert set(routes) == set(rest), \
        "api.c vs SECURITY.md: missing in SECURITY.md %s, stale in SECURITY.md %s" % (
            sorted(set(routes) - set(rest)), sorted(set(rest) - set(routes)))
    assert set(routes) == set(WALK), \
        "api.c vs the walk: not walked %s, stale %s" % (
            sorted(set(routes) - set(WALK)), sorted(set(WALK) - set(routes)))
    cmds = socket_commands()
    assert cmds == set(sock), \
        "socket dispatch vs SECURITY.md: missing %s, stale %s" % (
            sorted(cmds - set(sock)), sorted(set(sock) - cmds))
    assert cmds == set(SOCKET_WALK), "socket dispatch vs the walk: %s" % sorted(
        cmds ^ set(SOCKET_WALK))
    # every authenticated route documents a refusal for forbidden users
    for path, auth in routes.items():
        if auth == "AUTH":
            assert rest[path][1] is not None, "%s: no forbidden/deleted answer" % path


def answer_code(st, doc):
    return doc.get("code") if isinstance(doc, dict) else st


def test_rest_walk(server):
    srv = server()
    scene = build_scene(srv)
    rest, _ = security_tables()
    routes = api_routes()
    wrong = []
    for path, body in WALK.items():
        want_unrelated, want_forbidden = rest[path]
        if routes[path] == "NOAUTH":
            method = "GET" if body is None else "POST"
            st, _, raw = pp.http_request(srv.http_port, method, path, body or {},
                                         timeout=10 * SLOW)
            text = raw.decode("utf-8", "replace")
            if SECRET in text:
                wrong.append("%s (no identity) leaks %s" % (path, SECRET))
            if st >= 500:
                wrong.append("%s (no identity): HTTP %d" % (path, st))
            if want_unrelated is not None:
                got = st
                try:
                    got = json.loads(text).get("code", st)
                except ValueError:
                    pass
                if got != want_unrelated:
                    wrong.append("%s (no identity): want %s, got %s %s" % (
                        path, want_unrelated, st, text[:200]))
            continue
        b = json.loads(json.dumps(body).replace('"REQUEST_ID"', str(scene.request_id)))
        st, doc = call(srv, path, b, "mallory")
        got = answer_code(st, doc)
        if got != want_unrelated:
            wrong.append("%s as an unrelated user: want %s, got HTTP %d %r" % (
                path, want_unrelated, st, doc))
        if SECRET in json.dumps(doc):
            wrong.append("%s as an unrelated user leaks the victim's data: %r" % (path, doc))
        for who, want_code in (("banned", want_forbidden), ("gone", want_forbidden),
                               ("ghost-never-imported", 20001)):
            st, doc = call(srv, path, b, who)
            if (st, doc.get("code")) != (403, want_code):
                wrong.append("%s as %s: want 403/%s, got %d %r" % (path, who, want_code, st,
                                                                   doc))
    assert not wrong, "\n".join(wrong)
    # nothing of the victim changed: the friendship, the list, the group
    rel = ok(srv, "/v1/friendship/getRelation", {"toId": "vfriend"}, "victim")
    assert (rel["status"], rel["black"], rel["remark"]) == (1, 1, SECRET + "-remark"), rel
    g = ok(srv, "/v1/group/getGroupInfo", {"groupId": "vgroup"}, "victim")
    assert (g["status"], g["groupName"], g["ownerId"], g["mute"]) == \
        (1, SECRET + "-group", "victim", 0), g
    assert sorted(m["memberId"] for m in g["memberList"]) == ["vfriend", "victim"], g
    me = ok(srv, "/v1/user/data/getSingleUserInfo", {}, "victim")
    assert me["nickName"] == "victim", me
    scene.victim_dev.close()


def test_socket_walk(server):
    srv = server()
    scene = build_scene(srv)
    _, sock = security_tables()
    vf = srv.login("vfriend", imei="vf-1")
    m = srv.login("mallory", imei="m-1")
    wrong = []
    for name, (cmd, body) in SOCKET_WALK.items():
        want_unrelated, want_forbidden = sock[name]
        # as mallory, naming the victim
        if name == "LOGIN":
            c = srv.tcp()
            p = c.login(V, srv.token("mallory"), imei="m-2")
            if p.command != pp.ERROR or p.data.get("code") != want_unrelated:
                wrong.append("LOGIN as the victim with mallory's token: want %s, got %r" % (
                    want_unrelated, p))
            c.close()
        elif name == "PING":
            p = m.ping()
            if p.command != pp.PING:
                wrong.append("PING: got %r" % p)
        else:
            m.send(cmd, body)
            try:
                p = m.recv()
            except TimeoutError:
                wrong.append("%s naming the victim: no answer" % name)
                continue
            got = p.data.get("code") if p.command in (pp.ERROR, 1046, 2047) else p.command
            if p.command != pp.ERROR or got != want_unrelated:
                wrong.append("%s naming the victim: want error %s, got %r" % (
                    name, want_unrelated, p))
            if p.command == pp.ERROR and p.data.get("code") != pp.E_FROM_MISMATCH:
                m = srv.login("mallory", imei="m-%d" % time.monotonic_ns())
        # as a forbidden and a deleted user: LOGIN refused, the command
        # pipelined behind it never runs
        for who in ("banned", "gone"):
            c = srv.tcp()
            c.send(pp.LOGIN, {"userId": who, "userSign": srv.token(who)}, imei=who)
            if name != "LOGIN":
                c.send(cmd, dict(body or {}, fromId=who))
            p = c.recv()
            if p.command != pp.ERROR or p.data.get("code") != want_forbidden:
                wrong.append("%s as %s: want %s, got %r" % (name, who, want_forbidden, p))
            c.expect_closed()
            c.close()
    # mallory as itself on the victim's data
    for name, (body, how) in SOCKET_OWN.items():
        cmd = SOCKET_WALK[name][0]
        b = json.loads(json.dumps(body).replace('"MESSAGE_KEY"', str(scene.message_key)))
        m.send(cmd, b)
        try:
            p = m.recv(0.5 * SLOW if how == "silent" else None)
        except TimeoutError:
            if how != "silent":
                wrong.append("%s on the victim's data: no answer" % name)
            continue
        code = p.data.get("code") if isinstance(p.data, dict) else None
        if code in (None, 200):
            wrong.append("%s on the victim's data was accepted: %r" % (name, p))
    assert not wrong, "\n".join(wrong)
    # the victim and its friend saw nothing of it
    for d in (scene.victim_dev, vf):
        try:
            while True:
                p = d.recv(0.3)
                assert p.command not in (pp.MSG_P2P, 1052, 1053, 2104, 2053, 9002), \
                    "%r reached a victim" % p
        except TimeoutError:
            pass
