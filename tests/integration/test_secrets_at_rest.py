"""Issue 14 item 9: secrets at rest.

The data directory holds the database (with the app's HMAC secret, which
mints admin tokens) and the generated secret file: it must be 0700 and
every file in it 0600 (the SQLite database and its -wal/-shm files too),
whether petreld creates it or finds one made loose by an older version;
the secret is never printed or logged (only the file's path); demo-app
passwords are stored only as scrypt hashes.  With PostgreSQL the data
directory holds no database (the checks of SQLite's files are skipped)
and the stored hashes are read from a dump of the database.  The attack is a local user
other than petreld's: we check the modes that would let them read, and
what ends up in stdout/stderr (service logs)."""
import glob
import json
import os
import stat

import petrelproto as pp
from conftest import SLOW, STORE

# petreld's SQLite files in a data directory (none with PostgreSQL)
DB = ("petrel.db",) if not STORE.postgres else ()
DB_WAL = ("petrel.db", "petrel.db-wal", "petrel.db-shm") if not STORE.postgres else ()

TIMEOUT = 30.0 * SLOW


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def post(s, path, body):
    st, _, data = pp.http_request(s.http_port, "POST", path, body, timeout=TIMEOUT)
    return st, json.loads(data)


def exercise(s, secret, user, pw):
    """Legitimate use: register, log in with the returned token, and send a
    message (so the WAL has content)."""
    st, r = post(s, "/app/v1/register", {"userName": user, "password": pw})
    assert r.get("code") == 200, r
    st, r = post(s, "/app/v1/login", {"userName": user, "password": pw})
    assert r.get("code") == 200, r
    c = s.tcp()
    assert c.login(user, r["data"]["imUserSign"]).command == pp.LOGINACK
    # a token minted from the secret file works for the admin
    st, doc = s.api("/v1/user/data/getSingleUserInfo", {"userId": user}, secret=secret)
    assert doc["code"] == 200, doc
    c.close()


def assert_private(data_dir, need=DB + ("app-10000.secret",)):
    assert mode(data_dir) == 0o700, "data_dir mode %o" % mode(data_dir)
    files = sorted(glob.glob(os.path.join(data_dir, "*")))
    names = {os.path.basename(f) for f in files}
    assert set(need) <= names, names
    for f in files:
        assert mode(f) == 0o600, "%s mode %o" % (f, mode(f))
    return names


def test_fresh_data_dir_is_private_and_secret_not_printed(server, tmp_path):
    os.umask(0o022)   # a usual login shell's umask
    data = tmp_path / "parent" / "fresh"   # does not exist: petreld creates it
    s = server("--data-dir=%s" % data, app_secret=None)
    secret_path = data / "app-10000.secret"
    secret = secret_path.read_text().strip()
    assert len(secret) >= 32
    exercise(s, secret, "wal.writer", "a password 1")
    names = assert_private(str(data))
    assert set(DB_WAL) <= names, names
    assert mode(tmp_path / "parent") == 0o700   # made by petreld too

    # stdout says where, never what; stderr never has it either
    out, err = s.stdout_text(), s.stderr_text()
    assert str(secret_path) in out, out
    assert secret not in out and secret not in err, "the secret was printed or logged"
    assert s.stop() == 0
    assert_private(str(data))

    # demo-app passwords are stored hashed only: not in any file (nor
    # anywhere in the PostgreSQL database)
    blob = b"".join(open(f, "rb").read() for f in glob.glob(str(data / "*")))
    if STORE.postgres:
        blob += STORE.dump(s.data_dir)
    assert b"a password 1" not in blob
    assert b"scrypt$15$8$1$" in blob


def test_loose_existing_data_dir_is_tightened(server, tmp_path):
    data = tmp_path / "old"
    s1 = server(data_dir=data, app_secret=None)   # so the secret file is there too
    secret = (data / "app-10000.secret").read_text().strip()
    exercise(s1, secret, "old.user", "password-old-1")
    assert s1.stop() == 0
    # as an older petreld (or a careless operator) left it
    os.chmod(data, 0o755)
    loose = []
    for f in glob.glob(str(data / "*")):
        os.chmod(f, 0o644)
        loose.append(os.path.basename(f))
    assert set(DB + ("app-10000.secret",)) <= set(loose), loose
    # a symlink in the directory, even under a name petreld uses, is not
    # followed by the fix
    outside = tmp_path / "outside.txt"
    outside.write_text("not petrel's")
    os.chmod(outside, 0o644)
    os.symlink(outside, data / "app-20000.secret")

    s2 = server(data_dir=data, app_secret=None)
    assert mode(data) == 0o700
    for name in loose:
        assert mode(data / name) == 0o600, (name, oct(mode(data / name)))
    assert mode(outside) == 0o644, "followed a symlink"
    err = s2.stderr_text()
    assert 'msg="restricted data_dir entry to its owner"' in err, err[-2000:]
    for name in DB + ("app-10000.secret",):
        assert 'path="%s/%s" was=644 now=600' % (data, name) in err, err[-2000:]
    # data intact, service unchanged
    st, r = post(s2, "/app/v1/login", {"userName": "old.user", "password": "password-old-1"})
    assert r.get("code") == 200, r
    exercise(s2, secret, "new.user", "password-new-1")
    os.unlink(data / "app-20000.secret")
    assert_private(str(data), need=DB_WAL[:2] + ("app-10000.secret",))


def test_secret_flag_not_visible_in_process_list(server):
    """/proc/<pid>/cmdline (what ps shows every local user) must not carry
    the --app-secret value; the server still uses it."""
    secret = "argv-secret-0123456789abcdef"
    s1 = server(app_secret=secret)
    s2 = server("--app_secret", secret + "-2", app_secret=None)
    for s, sec in ((s1, secret), (s2, secret + "-2")):
        with open("/proc/%d/cmdline" % s.proc.pid, "rb") as f:
            cmdline = f.read()
        assert sec.encode() not in cmdline, cmdline
        assert b"--data-dir=" in cmdline   # the rest is intact
        # the secret is in force: a token made with it is accepted
        st, doc = s.api("/v1/user/importUser", {"userData": [{"userId": "u1"}]}, secret=sec)
        assert doc["code"] == 200, doc


def test_shared_directory_only_our_files_change(server, tmp_path):
    """data_dir pointed at a directory that holds other things: petreld's
    files become 0600, the other files and the directory itself are left
    as their owner set them (with a warning)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    notes = shared / "notes.txt"
    notes.write_text("someone else's")
    os.chmod(notes, 0o644)
    s = server(data_dir=shared)
    exercise(s, s.secret, "shared.user", "password-shared")
    assert mode(notes) == 0o644
    assert mode(shared) == 0o755
    for name in DB_WAL:
        assert mode(shared / name) == 0o600, name
    assert "holds other files; not changing it" in s.stderr_text()
