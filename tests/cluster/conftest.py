"""Harness of petrel's cluster tests (issue 17): several petreld nodes on
one PostgreSQL database and one Redis, all on loopback, all throw-away.

  - one PostgreSQL server per session (scripts/pg-test-server.sh, as the
    integration suite's --backend=postgres; PETREL_TEST_PG=URL uses an
    existing server instead), a fresh database per cluster;
  - one Redis per cluster (scripts/redis-test-server.sh, no persistence,
    a free port): cluster.redis.restart() loses its data, as a real
    restart without persistence does;
  - nodes: the integration suite's Server (tests/integration/conftest.py)
    with --node-id, --store, --redis and fast liveness settings
    (heartbeat HEARTBEAT_MS, timeout TIMEOUT_MS).

The `cluster` fixture is a factory: cluster(n=3, *flags) -> Cluster with
n started nodes (node ids 1..n); every process it started is stopped at
teardown (SIGCONT first, then SIGTERM: exit code 0 is required of a node
the test did not kill), its stderr checked for sanitizer reports, and the
tails of the logs printed when the test failed.

The integration suite's helpers are reused from tests/integration by path:
its conftest is loaded under another module name (petrel_it_conftest), and
this module re-exports what its test modules import from `conftest`
(SLOW, STORE), so `from test_messages import Dev` works here.  Do not run
tests/integration and tests/cluster in one pytest process (two conftest
modules of one name).

Environment: PETREL_BUILD, PETREL_ASAN as in tests/integration;
PETREL_TEST_PG=URL as above; PETREL_CLUSTER_ROUNDS=N (test 3's rounds,
default 5)."""
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
IT_DIR = os.path.join(ROOT, "tests", "integration")
sys.path.insert(0, IT_DIR)


def _load_it_conftest():
    name = "petrel_it_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(IT_DIR, "conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


itc = _load_it_conftest()
import petrelproto as pp  # noqa: E402  (tests/integration, on sys.path above)

# what tests/integration modules import from `conftest`
SLOW = itc.SLOW
STORE = itc.STORE
ASAN = itc.ASAN
PETRELD = itc.PETRELD
free_port = itc.free_port
port_accepts = itc.port_accepts
child_env = itc.child_env
psql = itc.psql
Server = itc.Server
PgServer = itc.PgServer

REDIS_SCRIPT = os.path.join(ROOT, "scripts", "redis-test-server.sh")
HEARTBEAT_MS = 200
TIMEOUT_MS = 1500
PRESENCE_DEBOUNCE_MS = 300
# many senders burst: no per-user or per-app send limit
NO_RATE_LIMIT = ["--send-rate-user=0", "--send-kbytes-user=0", "--send-rate-app=0"]


def _raise_nofile():
    """The storm test holds 5,000 client sockets; its nodes inherit this."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 32768 if hard == resource.RLIM_INFINITY else min(hard, 32768)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


_raise_nofile()


def petreld_keys():
    """The configuration keys the petreld under test knows (from --help)."""
    if not os.path.exists(PETRELD):
        return set()
    r = subprocess.run([PETRELD, "--help"], capture_output=True, text=True, timeout=30,
                       env=child_env())
    return set(re.findall(r"^\s+--([a-z0-9_]+)", r.stdout, re.M))


KEYS = petreld_keys()
CLUSTER_KEYS = ("redis", "node_heartbeat_ms", "node_timeout_ms")


def cluster_missing():
    return [k for k in CLUSTER_KEYS if k not in KEYS]


# ------------------------------------------------------------------ Redis
class RedisServer:
    """A throw-away redis-server (scripts/redis-test-server.sh) on a free
    loopback port; restart() = stop + start on the same port (empty)."""

    def __init__(self, tmp_dir):
        self.dir = tempfile.mkdtemp(prefix="petrel-redis-", dir=tmp_dir)
        self.port = None
        self.url = None

    def start(self):
        last = ""
        for _ in range(3 if self.port is None else 1):
            port = self.port or free_port()
            r = subprocess.run(["bash", REDIS_SCRIPT, "start", self.dir, str(port)],
                               capture_output=True, text=True, timeout=60)
            if r.returncode == 0:
                self.port = port
                self.url = r.stdout.strip().splitlines()[-1]
                return self.url
            last = r.stderr + self.log_tail()
        raise RuntimeError("cannot start redis-server in %s: %s" % (self.dir, last))

    def stop(self):
        subprocess.run(["bash", REDIS_SCRIPT, "stop", self.dir], capture_output=True, timeout=60)

    def restart(self):
        self.stop()
        return self.start()

    def cli(self, *args):
        """redis-cli against this server: its output lines."""
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=30)
        return r.stdout.splitlines()

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


# ------------------------------------------------------------------ nodes
class Node(Server):
    """A petreld cluster node: Server plus its node id and signals."""

    def __init__(self, tmp_path, idx, node_id, flags, secret):
        super().__init__(tmp_path, idx, flags, None, secret, None, True)
        self.node_id = node_id
        self.paused = False

    def __repr__(self):
        return "node %d (tcp %s)" % (self.node_id, self.tcp_port)

    def pause(self):
        """SIGSTOP (the process stays; its sockets stay open)."""
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def get(self, path):
        """GET path -> (status, body bytes)."""
        st, _, body = pp.http_get(self.http_port, path, timeout=10 * SLOW)
        return st, body

    def healthz(self):
        st, body = self.get("/healthz")
        try:
            return st, json.loads(body)
        except ValueError:
            return st, body

    def metrics(self, prefix="petrel_"):
        """{'name{labels}': value} of the /metrics samples starting with prefix."""
        st, body = self.get("/metrics")
        assert st == 200, "/metrics on %r: HTTP %d" % (self, st)
        out = {}
        for ln in body.decode("utf-8", "replace").splitlines():
            if ln.startswith(prefix):
                key, _, v = ln.rpartition(" ")
                try:
                    out[key] = float(v)
                except ValueError:
                    pass
        return out

    def metric(self, name, default=None):
        return self.metrics(name).get(name, default)


class Cluster:
    """Nodes 1..n on one database and one Redis.  users() imports users
    once (one database) and tells every node they exist."""

    def __init__(self, tmp_path, pg, extra, redis=True):
        self.tmp_path = tmp_path
        self.use_redis = redis
        self.pg = pg
        self.extra = list(extra)
        self.secret = "cl-secret-" + secrets.token_hex(8)
        self.dbname = "cl_%s" % secrets.token_hex(5)
        self.db = None
        self.redis = RedisServer(str(tmp_path))
        self.nodes = []
        self.all = []            # every Node ever made (teardown)
        self.users_known = set()

    def open(self):
        """The database and Redis (close() undoes whatever was done)."""
        self.db = self.pg.database(self.dbname)
        self.redis.start()

    # --------------------------------------------------------------- nodes
    def node_flags(self, node_id, flags=()):
        cl = (["--redis=" + self.redis.url, "--node-heartbeat-ms=%d" % HEARTBEAT_MS,
               "--node-timeout-ms=%d" % TIMEOUT_MS] if self.use_redis else [])
        return (["--node-id=%d" % node_id, "--store=" + self.db] + cl
                + ["--public-tcp=127.0.0.1:{tcp_port}", "--public-ws=127.0.0.1:{http_port}",
                   "--presence-debounce-ms=%d" % PRESENCE_DEBOUNCE_MS]
                + NO_RATE_LIMIT + self.extra + list(flags))

    def add(self, node_id=None, *flags, start=True):
        """A new node (default id: next free 1..), started unless start=False."""
        if node_id is None:
            node_id = max([n.node_id for n in self.nodes] + [0]) + 1
        n = Node(self.tmp_path, len(self.all), node_id, self.node_flags(node_id, flags),
                 self.secret)
        n.imported = self.users_known
        self.all.append(n)
        self.nodes.append(n)
        if start:
            n.start()
        return n

    def __getitem__(self, i):
        return self.nodes[i]

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self):
        return len(self.nodes)

    def alive(self):
        return [n for n in self.nodes if n.alive() and not n.killed]

    def kill(self, node):
        """SIGKILL (no goodbye to Redis, clients see their sockets reset)."""
        node.kill()

    # --------------------------------------------------------------- users
    def users(self, names, via=None):
        node = via or self.alive()[0]
        todo = [u for u in names if u not in self.users_known]
        for i in range(0, len(todo), 100):
            chunk = todo[i:i + 100]
            st, doc = node.api("/v1/user/importUser",
                               {"userData": [{"userId": u, "nickName": u} for u in chunk]})
            assert st == 200 and doc["code"] == 200, doc
            self.users_known.update(chunk)

    def token(self, user):
        return pp.make_token(self.secret, user)

    def api_ok(self, node, path, body, as_user="admin"):
        st, doc = node.api(path, body, as_user=as_user)
        assert st == 200 and doc.get("code") == 200, \
            "%r %s as %s %r -> HTTP %d %r" % (node, path, as_user, body, st, doc)
        return doc.get("data")

    def query(self, sql):
        """Rows of a query on the cluster's database (tuples of strings)."""
        return psql(self.db, sql)

    def sessions(self, node, user):
        """The devices of user the registry knows, as node sees them
        (queryUserOnlineStatus as the admin): [(clientType, imei)]."""
        d = self.api_ok(node, "/v1/user/queryUserOnlineStatus", {"userIdList": [user]})
        return sorted((x["clientType"], x["imei"]) for x in d[user]["session"])

    def discover(self, node, user, client_type=pp.CT_IOS):
        """/v1/user/login on node for user -> its data {ip, port, ...}."""
        return self.api_ok(node, "/v1/user/login", {"clientType": client_type}, as_user=user)

    # --------------------------------------------------------------- teardown
    def close(self, failed):
        problems = []
        for n in self.all:
            if n.proc is None:
                continue
            n.close_clients()
            if n.paused and n.proc.poll() is None:
                n.resume()
            if not n.stopped_by_test and not n.killed:
                if n.proc.poll() is not None:
                    problems.append("%r died during the test (exit code %s)"
                                    % (n, n.proc.returncode))
                else:
                    rc = n.stop()
                    if rc is None:
                        problems.append("%r did not exit within %.0fs of SIGTERM"
                                        % (n, 10 * SLOW))
                    elif rc != 0:
                        problems.append("%r exited with %s after SIGTERM" % (n, rc))
            elif n.proc.poll() is None:
                n.kill()
            san = itc.sanitizer_report(n.stderr_text())
            if san:
                problems.append("%r sanitizer report:\n%s" % (n, "\n".join(san[:20])))
        if problems or failed:
            for n in self.all:
                if n.proc is not None:
                    sys.stderr.write("---- node %d (#%d) stderr (tail) ----\n%s\n"
                                     % (n.node_id, n.idx, n.stderr_tail(60)))
            sys.stderr.write("---- redis log (tail) ----\n%s\n" % self.redis.log_tail())
        self.redis.stop()
        shutil.rmtree(self.redis.dir, ignore_errors=True)
        if self.db:
            try:
                psql(self.pg.url + "/postgres",
                     "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname, check=False)
            except Exception:  # noqa: BLE001 - best effort
                pass
        return problems


# ---------------------------------------------------------------- fixtures
@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class _SessionPg:
    def __init__(self, url, own):
        self.url = url
        self.own = own

    def database(self, name):
        psql(self.url + "/postgres", "CREATE DATABASE " + name)
        return self.url + "/" + name


@pytest.fixture(scope="session")
def pg_base():
    """The session's PostgreSQL (its own, or PETREL_TEST_PG)."""
    base = os.environ.get("PETREL_TEST_PG", "").rstrip("/")
    if base:
        yield _SessionPg(base, None)
        return
    if not itc.pg_installed():
        pytest.fail("PostgreSQL is not installed (make deps-test)")
    pg = PgServer()
    try:
        pg.start()
        yield _SessionPg(pg.url, pg)
    finally:
        pg.destroy()


@pytest.fixture(scope="session")
def redis_installed():
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed (make deps-test)")


@pytest.fixture
def cluster(tmp_path, request, pg_base, redis_installed):
    """Factory: cluster(n=3, *flags, start=True, redis=True) -> Cluster
    with nodes 1..n started (flags go to every node).  redis=False: the
    nodes share only the database (no cluster mode: the harness test on a
    build without it)."""
    made = []
    if not os.path.exists(PETRELD):
        pytest.fail("petreld not found at %s (build it, or set PETREL_BUILD)" % PETRELD)

    def factory(n=3, *flags, start=True, redis=True):
        missing = cluster_missing()
        if redis and missing:
            pytest.fail("%s has no --%s: cluster mode is not in this build"
                        % (PETRELD, ", --".join(missing)), pytrace=False)
        c = Cluster(tmp_path, pg_base, flags, redis)
        made.append(c)
        c.open()
        for _ in range(n):
            c.add(start=False)
        if start:
            # node 1 first: it migrates the empty database; the others after
            c.nodes[0].start()
            for node in c.nodes[1:]:
                node.start()
        return c

    yield factory

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    problems = []
    for c in made:
        problems += c.close(failed)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ----------------------------------------------------------------- waiting
def wait_for(pred, timeout, step=0.05, what="condition"):
    """Poll pred() until it is true; its value.  AssertionError after
    timeout (seconds, already scaled by the caller)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.1fs (last: %r)" % (what, timeout, last))
        time.sleep(step)
