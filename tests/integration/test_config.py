"""Configuration: generated secret, flag > env > file precedence, logfmt."""
import os
import re
import stat

import subprocess

import pytest

import petrelproto as pp
from conftest import PETRELD, SLOW, STORE, child_env, free_port, sanitizer_report


def login_ok(s, secret, user="alice"):
    # the user must exist: import it as the admin, signing with this secret
    # (refused with 60003 when the secret is not the server's: the login
    # below then shows the same refusal)
    s.api("/v1/user/importUser", {"userData": [{"userId": user}]}, secret=secret)
    c = s.tcp()
    p = c.login(user, pp.make_token(secret, user))
    c.close()
    return p


def printed_secret_path(stdout):
    """The one stdout line of a first start names the secret file (and
    never contains the secret: issue 14 item 9)."""
    lines = [ln for ln in stdout.splitlines() if ".secret" in ln]
    assert len(lines) == 1, "expected one stdout line naming the secret file, got %r" % stdout
    m = re.search(r"secret is in (\S+\.secret)", lines[0])
    assert m, lines[0]
    return m.group(1)


def test_secret_generated_then_reused(server, tmp_path):
    data = tmp_path / "gen"
    s1 = server(app_secret=None, data_dir=data)
    path = data / "app-10000.secret"
    assert path.exists(), "no %s after first start" % path
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, "secret file mode %o, expected 600" % mode
    content = path.read_bytes()
    secret = content.decode().strip()
    assert len(secret) >= 16, "generated secret too short: %r" % secret
    p = login_ok(s1, secret)
    assert p.command == pp.LOGINACK, p
    p = login_ok(s1, "wrong-" + secret)
    assert p.command == pp.ERROR and p.code == pp.E_SIGN_INVALID, p
    assert s1.stop() == 0
    assert printed_secret_path(s1.stdout_text()) == str(path)
    assert secret not in s1.stdout_text(), "the secret must not be printed"
    assert secret not in s1.stderr_text(), "the secret must not be logged to stderr"

    s2 = server(app_secret=None, data_dir=data)
    assert login_ok(s2, secret).command == pp.LOGINACK
    assert s2.stop() == 0
    assert path.read_bytes() == content, "secret file changed on second start"
    assert ".secret" not in s2.stdout_text() and secret not in s2.stdout_text(), \
        "secret file announced again on second start: %r" % s2.stdout_text()


def test_env_secret(server):
    s = server(app_secret=None, env={"PETREL_APP_SECRET": "env-secret-1"})
    assert login_ok(s, "env-secret-1").command == pp.LOGINACK
    assert login_ok(s, "other").code == pp.E_SIGN_INVALID


def test_flag_beats_env(server):
    s = server(app_secret="flag-secret", env={"PETREL_APP_SECRET": "env-secret"})
    assert login_ok(s, "flag-secret").command == pp.LOGINACK
    assert login_ok(s, "env-secret").code == pp.E_SIGN_INVALID


def test_config_file_and_precedence(server, tmp_path):
    cfg = tmp_path / "petrel.conf"
    cfg.write_text("# petrel test config\n"
                   "app_secret = file-secret\n"
                   "\n"
                   "login_policy = 1   \n"
                   "heartbeat_interval_ms = 60000\n")
    s = server("--config=%s" % cfg, app_secret=None)
    assert login_ok(s, "file-secret").command == pp.LOGINACK
    # login_policy = 1 from the file: a web login kicks an iOS device
    s.api("/v1/user/importUser", {"userData": [{"userId": "bob"}]}, secret="file-secret")
    ios = s.tcp()
    assert ios.login("bob", pp.make_token("file-secret", "bob"), client_type=2,
                     imei="i").command == pp.LOGINACK
    web = s.tcp()
    assert web.login("bob", pp.make_token("file-secret", "bob"), client_type=1,
                     imei="w").command == pp.LOGINACK
    p = ios.recv()
    assert p.command == pp.MUTUALLOGIN, "login_policy=1 from the config file ignored: %r" % p

    s2 = server("--config=%s" % cfg, app_secret=None, env={"PETREL_APP_SECRET": "env-wins"})
    assert login_ok(s2, "env-wins").command == pp.LOGINACK
    assert login_ok(s2, "file-secret").code == pp.E_SIGN_INVALID

    s3 = server("--config=%s" % cfg, app_secret="flag-wins",
                env={"PETREL_APP_SECRET": "env-loses"})
    assert login_ok(s3, "flag-wins").command == pp.LOGINACK
    assert login_ok(s3, "env-loses").code == pp.E_SIGN_INVALID


def test_listen_addresses_from_env(server):
    s = server(listen_flags=False, env={
        "PETREL_TCP_LISTEN": "127.0.0.1:{tcp_port}",
        "PETREL_HTTP_LISTEN": "127.0.0.1:{http_port}"})
    assert login_ok(s, s.secret).command == pp.LOGINACK
    st, _, _ = pp.http_get(s.http_port, "/healthz")
    assert st == 200


def test_env_policy_and_limits(server):
    s = server(env={"PETREL_LOGIN_POLICY": "4", "PETREL_MAX_IMEI": "4"})
    a = s.login("alice", client_type=2, imei="i1")
    b = s.login("alice", client_type=2, imei="i2")   # mode 4: no kick
    assert a.ping().command == pp.PING
    b.send(pp.PING, {}, imei="12345")
    b.expect_error(pp.E_IMEI_TOO_LONG, closes=True)


LOGFMT = re.compile(r'^ts=\S+ level=(debug|info|warn|error) msg=("([^"\\]|\\.)*"|\S+)'
                    r'( [A-Za-z_][A-Za-z0-9_.\-]*=("([^"\\]|\\.)*"|\S*))*$')


def _log_lines(s):
    return [ln for ln in s.stderr_text().splitlines()
            if ln.strip() and not ln.startswith(("==", "SUMMARY:", "    #"))]


def test_logs_are_logfmt(server):
    s = server("--log-level=debug")
    c = s.login("alice")
    c.send(1234, {})
    c.recv()
    bad = s.tcp()
    bad.send_raw(b"\xff" * 40)
    bad.expect_closed()
    assert s.stop() == 0
    lines = _log_lines(s)
    assert lines, "no log output at debug level"
    wrong = [ln for ln in lines if not LOGFMT.match(ln)]
    assert not wrong, "non-logfmt stderr lines: %r" % wrong[:5]
    assert s.secret not in s.stderr_text(), "the app secret leaked into the logs"


def test_log_level_error_is_quiet(server):
    s = server("--log-level=error")
    s.login("alice").ping()
    assert s.stop() == 0
    noisy = [ln for ln in _log_lines(s) if re.search(r"\blevel=(debug|info)\b", ln)]
    assert not noisy, "info/debug lines at --log-level=error: %r" % noisy[:5]


@pytest.mark.parametrize("flag", ["--login-policy=7", "--login-policy=abc",
                                  "--tcp-listen=nonsense", "--no-such-option=1"])
def test_bad_configuration_refused(tmp_path, flag):
    """Not spelled out by the spec, but an invalid value must not start a
    server silently: non-zero exit and a message on stderr."""
    argv = [PETRELD, "--data-dir=%s" % tmp_path, "--tcp-listen=127.0.0.1:%d" % free_port(),
            "--http-listen=127.0.0.1:%d" % free_port(), "--app-secret=x"]
    argv += STORE.flags(tmp_path)
    if flag.startswith("--tcp-listen"):
        argv.pop(2)
    argv.append(flag)
    try:
        r = subprocess.run(argv, capture_output=True, timeout=5 * SLOW, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("petreld kept running with invalid option %s" % flag)
    assert r.returncode != 0, "petreld exited 0 with invalid option %s" % flag
    assert r.stderr.strip(), "no error message for %s" % flag
    assert not sanitizer_report(r.stderr.decode("utf-8", "replace"))


@pytest.mark.parametrize("which", ["tcp", "http"])
def test_second_server_on_the_same_port_refused(server, tmp_path, which):
    """Workers listen with SO_REUSEPORT; without a check a second petreld
    on the same port would silently share its connections."""
    s1 = server()
    tcp = s1.tcp_port if which == "tcp" else free_port()
    http = s1.http_port if which == "http" else free_port()
    argv = [PETRELD, "--data-dir=%s" % (tmp_path / "other"), "--app-secret=x",
            "--tcp-listen=127.0.0.1:%d" % tcp, "--http-listen=127.0.0.1:%d" % http]
    argv += STORE.flags(tmp_path / "other")
    try:
        r = subprocess.run(argv, capture_output=True, timeout=5 * SLOW, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("a second petreld started on the %s port of a running one" % which)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 1 and "already in use" in err, (r.returncode, err)
    assert not sanitizer_report(err)
    assert s1.alive()
    st, doc = s1.api("/v1/user/getUserSequence", {})
    assert st == 200 and doc["code"] == 200, doc
