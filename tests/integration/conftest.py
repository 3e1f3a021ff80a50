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

Backends (issue 16): every test runs against the backend chosen for the
session, `--backend=sqlite` (the default) or `--backend=postgres`; `make
test` runs the suite once per backend, as two pytest processes.
  --backend=postgres  the session starts its own PostgreSQL server
                (scripts/pg-test-server.sh: initdb into a temporary
                directory, a free loopback port, stopped at the end) and
                gives each server data_dir a database of its own (empty,
                migrated: see Store), so a restart on the same data_dir
                finds its data again.
  PETREL_TEST_PG=URL  use the PostgreSQL server at this base URL instead
                (user with CREATEDB; implies --backend=postgres).
  @pytest.mark.sqlite_only("why")  the test cannot apply to PostgreSQL
                (it deletes, replaces or fills the SQLite file's disk...):
                skipped on the PostgreSQL pass with that reason.
  @pytest.mark.postgres_only  (tests/integration/test_pg_*.py) skipped on
                the SQLite pass.
  STORE (the session's backend): STORE.flags(data_dir) for a petreld run
                by hand, STORE.query(data_dir, sql) and STORE.dump(data_dir)
                to read what a server stored, whichever the backend.
"""
import contextlib
import glob
import json
import os
import queue
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
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


# ------------------------------------------------------------ backends
PG_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                         "scripts", "pg-test-server.sh")


def pg_installed():
    return bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


class PgServer:
    """A throw-away PostgreSQL server (scripts/pg-test-server.sh) in a
    temporary directory, on a free loopback port.  stop() is an immediate
    shutdown (what a crash of the database server looks like); start()
    again brings the same cluster back on the same port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="petrel-pg-")
        self.port = None
        self.url = None

    def start(self, attempts=3):
        last = ""
        for _ in range(attempts):
            port = self.port or free_port()
            r = subprocess.run(["bash", PG_SCRIPT, "start", self.dir, str(port)],
                               capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                self.port = port
                self.url = r.stdout.strip().splitlines()[-1]
                return self.url
            last = r.stderr + self.log_tail()
            if self.port:
                break
        raise RuntimeError("cannot start PostgreSQL in %s: %s" % (self.dir, last))

    def stop(self):
        subprocess.run(["bash", PG_SCRIPT, "stop", self.dir], capture_output=True, timeout=120)

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def database(self, name):
        """Create a database; its URL."""
        psql(self.url + "/postgres", "CREATE DATABASE " + name)
        return self.url + "/" + name

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def psql(url, *sqls, check=True):
    """Run statements with psql on the database at url; the rows of the
    last one as tuples of strings (NULL as None)."""
    argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\x1f",
            "-P", "null=\x1e", url]
    for q in sqls:
        argv += ["-c", q]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=child_env())
    if check and r.returncode != 0:
        raise AssertionError("psql %s: %s" % (sqls, r.stderr.strip()))
    return [tuple(None if v == "\x1e" else v for v in ln.split("\x1f"))
            for ln in r.stdout.splitlines() if ln]


class Store:
    """The session's backend.

    With PostgreSQL, the set-up cost of a database (CREATE DATABASE takes
    0.1-0.3 s, migrating it 0.1 s: more than many a short test) is moved
    out of the tests.  At the start of the session petreld migrates a
    template database, whose rows are then emptied; worker threads create
    databases from it ahead of need; url() lends the next ready one to
    each new data_dir, and after the test (its servers stopped) the lent
    databases are emptied the same way (TRUNCATE, after ending any session
    still on them) and lent again.  So a test's petreld starts on an empty
    database at the latest schema version, as after a restart; migrating
    an empty database is what the template's petreld, test_pg_*.py (their
    own servers) and test_store_pg.c do.  A database whose schema a test
    changed is dropped instead of lent again."""

    AHEAD = 3          # databases kept ready
    WORKERS = 2        # threads that create and empty them

    def __init__(self):
        self.name = "sqlite"
        self.base = ""            # PostgreSQL base URL (no database)
        self.own = None           # the PgServer this session started
        self.dbs = {}             # abspath(data_dir) -> database name, this test's
        self.prefix = "t%s" % secrets.token_hex(3)
        self.created = []         # every database made (dropped at the end on a shared server)
        self.lock = threading.Lock()
        self.ready = queue.Queue()   # names, or the exception that stopped a worker
        self.jobs = queue.Queue()    # "new", a name to empty, or None (stop)
        self.workers = []
        self.template = None
        self.tables = ""          # the template's tables but schema_migrations
        self.schema = None        # the template's (count, max version) of schema_migrations

    @property
    def postgres(self):
        return self.name == "postgres"

    def begin(self):
        """Start the session's PostgreSQL server if it needs one, the
        template, and the workers."""
        if not self.postgres:
            return
        if not self.base:
            if not pg_installed():
                pytest.exit("--backend=postgres: PostgreSQL is not installed "
                            "(scripts/deps.sh test)", returncode=1)
            self.own = PgServer()
            self.base = self.own.start()
        self.make_template()
        for _ in range(self.WORKERS):
            t = threading.Thread(target=self._work, daemon=True)
            t.start()
            self.workers.append(t)
        for _ in range(self.AHEAD):
            self.jobs.put("new")

    def _admin(self, sql, check=True):
        return psql(self.base + "/postgres", sql, check=check)

    def make_template(self):
        """A database that petreld migrated, then emptied of its rows."""
        if not os.path.exists(PETRELD):
            return                   # Server.start says so
        name = self.prefix + "_template"
        self._admin("CREATE DATABASE " + name)
        self.created.append(name)
        url = self.base + "/" + name
        tmp = tempfile.mkdtemp(prefix="petrel-tmpl-")
        tcp, http = free_port(), free_port()
        p = subprocess.Popen([PETRELD, "--data-dir=" + tmp, "--app-secret=template",
                              "--store=" + url, "--tcp-listen=127.0.0.1:%d" % tcp,
                              "--http-listen=127.0.0.1:%d" % http],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=child_env())
        deadline = time.monotonic() + 30 * SLOW
        while p.poll() is None and not port_accepts(http) and time.monotonic() < deadline:
            time.sleep(0.02)
        up = p.poll() is None and port_accepts(http)
        if p.poll() is None:
            p.terminate()
        err = p.communicate(timeout=30 * SLOW)[1].decode("utf-8", "replace")
        shutil.rmtree(tmp, ignore_errors=True)
        if not up or p.returncode != 0:
            raise RuntimeError("petreld could not prepare the template database (exit %s):\n%s"
                               % (p.returncode, err[-3000:]))
        self.tables = psql(url, "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                                "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
                           )[0][0]
        self.schema = self._empty(url)
        self.template = name

    def _empty(self, url):
        """End the sessions on a database, delete its rows; its
        schema_migrations (count, max version)."""
        return psql(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    "TRUNCATE %s RESTART IDENTITY" % self.tables,
                    "SELECT count(*), coalesce(max(version), 0) FROM schema_migrations")[0]

    def _work(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                if job != "new" and self._empty(self.base + "/" + job) == self.schema:
                    self.ready.put(job)
                    continue
                if job != "new":     # its schema changed: a new one instead
                    self._admin("DROP DATABASE %s WITH (FORCE)" % job)
                with self.lock:
                    name = "%s_%d" % (self.prefix, len(self.created))
                    self.created.append(name)
                self._admin("CREATE DATABASE %s%s" % (name, " TEMPLATE " + self.template
                                                      if self.template else ""))
                self.ready.put(name)
            except BaseException as e:  # noqa: B902 - handed to url()
                self.ready.put(e)
                return

    def end(self):
        for _ in self.workers:
            self.jobs.put(None)
        for t in self.workers:
            t.join(60)
        if self.own:
            self.own.destroy()
        elif self.base:
            for name in self.created:
                self._admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name, check=False)

    def url(self, data_dir):
        """The PostgreSQL database of a data_dir (lent the first time)."""
        key = os.path.abspath(str(data_dir))
        if key not in self.dbs:
            if self.ready.empty():
                self.jobs.put("new")
            name = self.ready.get(timeout=120)
            if isinstance(name, BaseException):
                raise name
            self.dbs[key] = name
        return self.base + "/" + self.dbs[key]

    def recycle(self):
        """After a test, once its servers are stopped: its databases are
        emptied and lent again (without a template: dropped)."""
        for name in self.dbs.values():
            if self.template:
                self.jobs.put(name)
            else:
                self._admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name, check=False)
        self.dbs = {}

    def flags(self, data_dir):
        """The petreld flags that put data_dir's store on this backend."""
        return ["--store=" + self.url(data_dir)] if self.postgres else []

    def query(self, data_dir, sql):
        """Rows of a read-only query on what the server of data_dir stored,
        as tuples of strings (NULL as None), on either backend."""
        if self.postgres:
            return psql(self.url(data_dir), sql)
        uri = "file:%s?mode=ro" % os.path.join(str(data_dir), "petrel.db")
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            return [tuple(None if v is None else str(v) for v in row)
                    for row in db.execute(sql)]

    def dump(self, data_dir):
        """Everything stored for data_dir as bytes (SQLite: the files of
        the data directory; PostgreSQL: pg_dump of its database)."""
        if self.postgres:
            r = subprocess.run(["pg_dump", "--no-owner", self.url(data_dir)],
                               capture_output=True, timeout=60, env=child_env())
            assert r.returncode == 0, r.stderr
            return r.stdout
        return b"".join(open(f, "rb").read()
                        for f in glob.glob(os.path.join(str(data_dir), "*")) if os.path.isfile(f))


STORE = Store()


def pytest_addoption(parser):
    parser.addoption("--backend", choices=("sqlite", "postgres"), default=None,
                     help="store backend of every petreld (default sqlite; postgres when "
                          "PETREL_TEST_PG is set)")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only(reason): the test cannot apply to "
                            "PostgreSQL; skipped with the reason on the PostgreSQL pass")
    config.addinivalue_line("markers", "postgres_only: skipped on the SQLite pass")
    STORE.base = os.environ.get("PETREL_TEST_PG", "").rstrip("/")
    STORE.name = config.getoption("--backend") or ("postgres" if STORE.base else "sqlite")
    if STORE.name == "sqlite":
        STORE.base = ""


def pytest_report_header(config):
    if STORE.postgres:
        return "store backend: postgres (%s)" % (STORE.base or "a server of its own")
    return "store backend: sqlite"


def pytest_collection_modifyitems(config, items):
    for item in items:
        m = item.get_closest_marker("sqlite_only")
        if STORE.postgres and m:
            why = m.args[0] if m.args else m.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason="SQLite only: " + why))
        if not STORE.postgres and item.get_closest_marker("postgres_only"):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL only (--backend=postgres)"))


@pytest.fixture
def private_pg():
    """A PostgreSQL server of the test's own (started; destroyed at
    teardown), for tests that stop and start it."""
    if not pg_installed():
        pytest.skip("PostgreSQL is not installed (scripts/deps.sh test)")
    pg = PgServer()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture(scope="session", autouse=True)
def store_backend():
    """The session's backend (STORE); starts and stops its PostgreSQL."""
    STORE.begin()
    yield STORE
    STORE.end()


@pytest.fixture(autouse=True)
def store_databases(store_backend):
    """Torn down after the test's own fixtures (its servers stopped): the
    databases it used go back to the pool."""
    yield
    STORE.recycle()


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
        if not any(f.startswith("--store=") for f in self.flags):
            argv += STORE.flags(self.data_dir)
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
