"""Fixtures for petrel's black-box integration tests.

Environment:
  PETREL_BUILD  directory holding petreld and petrel (default /work/main/build)
  PETREL_ASAN=1 the binaries are ASan/UBSan builds: longer timeouts, and every
                server's stderr is checked for sanitizer reports at teardown.
  PETREL_TEST_HISTORY_BATCH=N
                every server gets --store-history-batch=N (unless the test
                sets it): N=1 writes one-to-one history rows after every
                group commit, so reads go through the written rows rather
                than the bodies that wait (the default, 8192, keeps a
                test's few messages waiting).
"""
import json
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import petrelproto as pp  # noqa: E402

BUILD = os.environ.get("PETREL_BUILD") or "/work/main/build"
ASAN = os.environ.get("PETREL_ASAN") == "1"
HISTORY_BATCH = os.environ.get("PETREL_TEST_HISTORY_BATCH")
SLOW = 3.0 if ASAN else 1.0          # multiply every timeout by this
PETRELD = os.path.join(BUILD, "petreld")
PETREL_CLI = os.path.join(BUILD, "petrel")

# Default per-recv timeout for every client the tests create.
pp.BaseClient.timeout = 5.0 * SLOW

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer")


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


_raise_nofile()  # the load test needs ~1000 sockets here and in petreld


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_accepts(port):
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    except OSError:
        return False
    c.close()
    return True


def child_env(extra=None):
    """The environment for a child: ours without PETREL_* (so config tests
    control every PETREL_ variable the server sees)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETREL_")}
    if extra:
        env.update(extra)
    return env


# PostgreSQL backend (issue 16): PETREL_TEST_PG = base URL of a running
# test server (scripts/pg-test-server.sh).  Each data_dir gets a database
# of its own, named after the path, so a restart on the same data_dir
# finds its data again.
PG_URL = os.environ.get("PETREL_TEST_PG", "")


def pg_database(data_dir):
    import hashlib
    name = "t_" + hashlib.sha1(os.path.abspath(data_dir).encode()).hexdigest()[:20]
    subprocess.run(["psql", PG_URL + "/postgres", "-qAtc", "CREATE DATABASE " + name],
                   capture_output=True)
    return PG_URL + "/" + name


def sanitizer_report(text):
    return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKERS)]


class Server:
    """One petreld process."""

    def __init__(self, tmp_path, idx, flags, env, app_secret, data_dir,
                 listen_flags):
        self.idx = idx
        self.flags = list(flags)
        self.extra_env = dict(env or {})
        self.secret = app_secret
        self.data_dir = str(data_dir) if data_dir else str(tmp_path / ("data%d" % idx))
        os.makedirs(self.data_dir, exist_ok=True)
        self.listen_flags = listen_flags
        self.stderr_path = str(tmp_path / ("petreld%d.stderr" % idx))
        self.stdout_path = str(tmp_path / ("petreld%d.stdout" % idx))
        self.proc = None
        self.killed = False        # the test killed it (SIGKILL): exit code not checked
        self.stopped_by_test = False
        self.signalled = False
        self.returncode = None
        self.clients = []
        self.imported = set()
        self.tcp_port = self.http_port = None
        self.argv = None
        self.preexec_fn = None     # run in the child before exec (e.g. setrlimit)

    # ------------------------------------------------------------ lifecycle
    def _argv(self):
        argv = [PETRELD, "--data-dir=" + self.data_dir]
        if PG_URL and not any(f.startswith("--store=") for f in self.flags):
            argv.append("--store=" + pg_database(self.data_dir))
        if self.listen_flags:
            argv += ["--tcp-listen=127.0.0.1:%d" % self.tcp_port,
                     "--http-listen=127.0.0.1:%d" % self.http_port]
        if self.secret is not None:
            argv.append("--app-secret=" + self.secret)
        if HISTORY_BATCH and not any(f.startswith("--store-history-batch") for f in self.flags):
            argv.append("--store-history-batch=" + HISTORY_BATCH)
        return argv + self.flags

    def start(self, tcp_port=None, http_port=None, attempts=3):
        if not os.path.exists(PETRELD):
            pytest.fail("petreld not found at %s (build it, or set PETREL_BUILD)" % PETRELD)
        last = ""
        for _ in range(attempts):
            self.tcp_port = tcp_port or free_port()
            self.http_port = http_port or free_port()
            while self.http_port == self.tcp_port:
                self.http_port = free_port()
            # "{tcp_port}" / "{http_port}" templates are allowed in env and flags
            env = child_env({k: v.format(tcp_port=self.tcp_port, http_port=self.http_port)
                             for k, v in self.extra_env.items()})
            self.argv = [a.format(tcp_port=self.tcp_port, http_port=self.http_port)
                         for a in self._argv()]
            with open(self.stderr_path, "ab") as err, open(self.stdout_path, "ab") as out:
                self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, env=env,
                                             preexec_fn=self.preexec_fn)
            deadline = time.monotonic() + 10 * SLOW
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if port_accepts(self.tcp_port) and port_accepts(self.http_port):
                    return self
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("petreld did not accept on both ports within %.0fs: %s\n%s"
                            % (10 * SLOW, self.argv, self.stderr_tail()))
            last = "exit code %s\n%s" % (self.proc.returncode, self.stderr_tail())
            if tcp_port or "in use" not in last.lower():
                break
        pytest.fail("petreld exited during start-up: %s: %s" % (self.argv, last))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.signalled = True
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signal (unless the test already did) and wait; returns the exit
        code (None if it had to be killed)."""
        self.stopped_by_test = True
        if self.proc.poll() is None:
            if not self.signalled:
                self.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout or 10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.killed = True
                self.returncode = None
                return None
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        self.killed = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, n=40):
        return "\n".join(self.stderr_text().splitlines()[-n:])

    # -------------------------------------------------------------- helpers
    def api(self, path, body=None, as_user="admin", secret=None, app=pp.APP_ID, method="POST"):
        """Signed REST call -> (http status, envelope dict)."""
        p = pp.signed_path(path, self.secret if secret is None else secret, as_user, app_id=app)
        st, _, data = pp.http_request(self.http_port, method, p, {} if body is None else body,
                                      timeout=10 * SLOW)
        return st, json.loads(data)

    def ensure_users(self, users):
        """Import users (as the app admin) so that they may log in; petrel
        refuses socket logins of users that do not exist."""
        todo = [u for u in users if u not in self.imported]
        for i in range(0, len(todo), 100):
            chunk = todo[i:i + 100]
            st, doc = self.api("/v1/user/importUser",
                               {"userData": [{"userId": u, "nickName": u} for u in chunk]})
            assert st == 200 and doc["code"] == 200, doc
            self.imported.update(chunk)

    def token(self, user, ttl=3600, secret=None, app=pp.APP_ID, issued=None):
        if app == pp.APP_ID and secret is None and self.alive():
            self.ensure_users([user])
        return pp.make_token(self.secret if secret is None else secret, user,
                             app_id=app, ttl=ttl, issued=issued)

    def tcp(self, **kw):
        c = pp.TcpClient(self.tcp_port, **kw)
        self.clients.append(c)
        return c

    def ws(self, **kw):
        c = pp.WsClient(self.http_port, **kw)
        self.clients.append(c)
        return c

    def client(self, transport, **kw):
        return self.tcp(**kw) if transport == "tcp" else self.ws(**kw)

    def login(self, user, client_type=pp.CT_WEB, imei="", transport="tcp", **kw):
        """Connect, log in and assert the LOGINACK; returns the client."""
        c = self.client(transport)
        ack = c.login(user, self.token(user), client_type=client_type, imei=imei, **kw)
        assert ack.command == pp.LOGINACK, \
            "login %s ct=%d imei=%r over %s: expected 9001, got %r" % (
                user, client_type, imei, transport, ack)
        return c

    def close_clients(self):
        for c in self.clients:
            c.close()
        self.clients = []


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def server(tmp_path, request):
    """Factory: server(*flags, env=None, app_secret=<random>, data_dir=None,
    listen_flags=True, start=True) -> Server (started).  Pass app_secret=None
    to omit --app-secret.  Every server is stopped with SIGTERM at teardown
    (exit code must be 0 unless the test killed it) and its stderr checked
    for sanitizer reports."""
    started = []

    def factory(*flags, env=None, app_secret="", data_dir=None, listen_flags=True,
                start=True):
        if app_secret == "":
            app_secret = "it-secret-" + secrets.token_hex(8)
        s = Server(tmp_path, len(started), flags, env, app_secret, data_dir,
                   listen_flags)
        started.append(s)
        if start:
            s.start()
        return s

    yield factory

    problems = []
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for s in started:
        s.close_clients()
        if s.proc is None:
            continue
        if not s.stopped_by_test and not s.killed:
            if s.proc.poll() is not None:
                problems.append("petreld #%d died during the test (exit code %s)"
                                % (s.idx, s.proc.returncode))
            else:
                rc = s.stop()
                if rc is None:
                    problems.append("petreld #%d did not exit within %.0fs of SIGTERM"
                                    % (s.idx, 10 * SLOW))
                elif rc != 0:
                    problems.append("petreld #%d exited with %s after SIGTERM" % (s.idx, rc))
        elif s.proc.poll() is None:
            s.kill()
        text = s.stderr_text()
        san = sanitizer_report(text)
        if san:
            problems.append("petreld #%d sanitizer report:\n%s" % (s.idx, "\n".join(san[:20])))
        if problems or failed:
            sys.stderr.write("---- petreld #%d %s stderr (tail) ----\n%s\n"
                             % (s.idx, s.argv, s.stderr_tail(60)))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def srv(server):
    """A default server (policy 3, default timeouts) where the usual test
    users exist (tests that log in through the CLI cannot import them)."""
    s = server()
    s.ensure_users(["alice", "bob", "carol", "dave", "erin"])
    return s


@pytest.fixture
def bystander(srv):
    """An already logged-in client on srv; call check() after abusing the
    server: the bystander must still get its pong and a new login must work."""

    class B:
        def __init__(self):
            self.c = srv.login("bystander", client_type=pp.CT_WEB, imei="by-1")

        def check(self):
            assert srv.alive(), "petreld died:\n" + srv.stderr_tail()
            p = self.c.ping()
            assert p.command == pp.PING, "bystander's ping got %r" % p
            c = srv.login("newcomer", client_type=pp.CT_WEB,
                          imei="nc-%d" % time.monotonic_ns())
            p = c.ping()
            assert p.command == pp.PING, "new client's ping got %r" % p
            c.close()

    return B()
