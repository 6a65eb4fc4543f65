"""HTTP basic authentication in nginx-proxy (BASIC_AUTH_HTPASSWD, BASIC_AUTH_REALM), with real processes.

The helpers of test_nginx_proxy.py start the image's entrypoint (render-config.sh) with Debian's
/usr/sbin/nginx in front of a stub backend on loopback. The htpasswd value is a secret: besides
what nginx does with it, these tests check where it must never show up (error messages, the
script's output, nginx's environment, the access log) and how its file is kept.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services.test_nginx_proxy import (
    HELLO,
    NGINX,
    WAIT,
    Proxy,
    StubServer,
    assert_refused,
    busybox_bin,  # noqa: F401  (a fixture)
    fake_nginx,  # noqa: F401  (a fixture)
    get,
    nginx_master_pid,
    parent_pid,
    proxy_env,
    run_script,
    start_backend,
    start_proxy,
    stop_proxy,
)

pytestmark = pytest.mark.integration

REALM = "Echo staff only"


@dataclass(frozen=True)
class User:
    name: str
    password: str
    hash: str

    @property
    def line(self) -> str:
        return f"{self.name}:{self.hash}"

    @property
    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.name}:{self.password}".encode()).decode()


def make_user(name: str, scheme: str) -> User:
    """A user with a random password, hashed by `openssl passwd -apr1` or `-6`."""
    password = secrets.token_urlsafe(12)
    hashed = subprocess.run(
        ["openssl", "passwd", scheme, "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
        timeout=WAIT,
    ).stdout.strip()
    return User(f"{name}-{secrets.token_hex(4)}", password, hashed)


@pytest.fixture(scope="module")
def alice() -> User:
    return make_user("alice", "-apr1")  # MD5-apr: nginx's own implementation


@pytest.fixture(scope="module")
def bob() -> User:
    return make_user("bob", "-6")  # SHA-512 crypt: glibc's (libxcrypt) crypt() here, musl's in the image


@pytest.fixture(scope="module")
def htpasswd(alice: User, bob: User) -> str:
    return f"# the team\n{alice.line}\n\n{bob.line}\n"


def secret_parts(*users: User) -> list[str]:
    """Every piece of the value (and of the credentials) that must never be shown."""
    return [part for user in users for part in (user.name, user.hash, user.password, user.authorization[6:])]


def assert_not_shown(text: str, parts: list[str]) -> None:
    for part in parts:
        assert part not in text, "a part of the secret was shown"  # (not the text itself: it holds the part)


@pytest.fixture(scope="module")
def runtime_root() -> Iterator[Path]:
    """A directory nginx's workers can reach. Under root nginx runs its workers as `nobody`, which
    must read the htpasswd file at every request, and pytest's own temp dirs are 0700 root."""
    root = Path(tempfile.mkdtemp(prefix="nginx-basic-auth-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def runtime(runtime_root: Path) -> Path:
    """A runtime dir of its own for one test, not created yet (the script makes it)."""
    parent = Path(tempfile.mkdtemp(dir=runtime_root))
    parent.chmod(0o755)
    return parent / "rt"


@pytest.fixture(scope="module")
def backend() -> Iterator[StubServer]:
    server = start_backend(0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nginx_envs(runtime_root: Path) -> Path:
    """Where the NGINX_BIN of auth_proxy leaves the environment of every nginx it starts, by pid."""
    path = runtime_root / "nginx-environments"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def auth_proxy(backend: StubServer, runtime_root: Path, htpasswd: str, nginx_envs: Path) -> Iterator[Proxy]:
    # nginx overwrites its own /proc/PID/environ with its process title (setproctitle), so the
    # environment it was started with is recorded by a wrapper that then becomes nginx (exec).
    spy = runtime_root / "nginx-spy"
    spy.write_text(f'#!/bin/sh\ncat /proc/$$/environ >"{nginx_envs}/$$"\nexec {NGINX} "$@"\n')
    spy.chmod(0o755)
    running = start_proxy(
        runtime_root / "auth-proxy",
        NGINX_BIN=str(spy),
        BACKEND_HOST=f"127.0.0.1:{backend.server_port}",
        BASIC_AUTH_HTPASSWD=htpasswd,
        BASIC_AUTH_REALM=REALM,
    )
    yield running
    stop_proxy(running)


def seen_paths(backend: StubServer) -> set[str]:
    return {path for _, path, _ in backend.seen}


# ---- 1-3: what is protected, what stays open ---------------------------------------


def test_without_credentials_every_path_is_401(auth_proxy: Proxy, backend: StubServer) -> None:
    before = len(backend.seen)
    for path in ("/", f"/some/path-{secrets.token_hex(4)}?x=1", "/headers"):
        resp = get(auth_proxy.port, path)
        assert resp.status == 401, path
        assert resp.headers.get_all("WWW-Authenticate") == [f'Basic realm="{REALM}"'], path
        assert resp.headers["X-Request-Id"]  # nginx's headers still come with the 401
    # A scheme other than Basic, or garbage, is no better.
    assert get(auth_proxy.port, "/", {"Authorization": "Bearer abc"}).status == 401
    assert get(auth_proxy.port, "/", {"Authorization": "Basic !!!"}).status == 401
    assert len(backend.seen) == before, "an unauthenticated request reached the backend"


def test_wrong_password_is_401_right_one_is_200(auth_proxy: Proxy, backend: StubServer, alice: User, bob: User) -> None:
    wrong = User(alice.name, alice.password + "x", alice.hash)
    unknown = User("mallory", alice.password, alice.hash)
    swapped = User(bob.name, alice.password, bob.hash)
    for user in (wrong, unknown, swapped):
        resp = get(auth_proxy.port, "/wrong", {"Authorization": user.authorization})
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'
    assert "/wrong" not in seen_paths(backend)

    for user in (alice, bob):  # $apr1$ and $6$
        path = f"/right-{user.name}"
        resp = get(auth_proxy.port, path, {"Authorization": user.authorization})
        assert resp.status == 200, user.hash[:3]
        assert resp.body == HELLO
        assert path in seen_paths(backend)

    # The credentials stay with nginx: the backend never sees the Authorization header.
    resp = get(auth_proxy.port, "/headers", {"Authorization": alice.authorization})
    assert resp.status == 200
    assert "authorization" not in json.loads(resp.body)


def test_health_paths_stay_open(auth_proxy: Proxy, backend: StubServer) -> None:
    assert get(auth_proxy.port, "/").status == 401  # authentication is on
    health = get(auth_proxy.port, "/healthz")  # the load balancer's check, proxied to the backend
    assert health.status == 200
    assert health.body == b"ok\n"
    assert "WWW-Authenticate" not in health.headers
    assert "/healthz" in seen_paths(backend)
    ping = get(auth_proxy.port, "/nginx-ping")  # the container's check, answered by nginx
    assert ping.status == 200
    assert ping.body == b"ok\n"
    assert get(auth_proxy.port, "/nginx-ping", source="127.0.0.2").status == 404  # still loopback only
    # Exact matches only: a neighbour of a health path is protected.
    assert get(auth_proxy.port, "/healthz/x").status == 401
    assert get(auth_proxy.port, "/healthzx").status == 401


# ---- 4: the htpasswd file ------------------------------------------------------------


def assert_private(path: Path, mode: int) -> None:
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == mode, f"{path}: {oct(stat.S_IMODE(info.st_mode))}"
    # Under root nginx's workers run as `nobody` (Debian's nginx has no --user=), who must own it.
    expected_owner = 65534 if os.geteuid() == 0 else os.geteuid()
    assert info.st_uid == expected_owner, f"{path} is owned by uid {info.st_uid}"


def test_htpasswd_file_is_private_under_the_runtime_dir(auth_proxy: Proxy, alice: User, bob: User) -> None:
    auth_dir = auth_proxy.runtime_dir / "auth"
    htpasswd_file = auth_dir / "htpasswd"
    assert_private(auth_dir, 0o700)
    assert_private(htpasswd_file, 0o600)
    # The user lines, blank lines and comments left out.
    assert htpasswd_file.read_text() == f"{alice.line}\n{bob.line}\n"
    assert sorted(p.name for p in auth_dir.iterdir()) == ["htpasswd"]  # no temporary file left
    assert f'auth_basic "{REALM}"; auth_basic_user_file {htpasswd_file};' in auth_proxy.conf()


def test_a_stale_file_is_replaced_with_a_private_one(runtime: Path, alice: User) -> None:
    # Left over from an earlier run: a world-readable temporary file and directory.
    (runtime / "auth").mkdir(parents=True)
    (runtime / "auth").chmod(0o755)
    (runtime / "auth" / "htpasswd.tmp").write_text("old:junk\n")
    (runtime / "auth" / "htpasswd.tmp").chmod(0o644)
    result = run_script(proxy_env(runtime, BACKEND_HOST="127.0.0.1:8080", BASIC_AUTH_HTPASSWD=alice.line), "check")
    assert result.returncode == 0, result.stderr
    assert_private(runtime / "auth", 0o700)
    assert_private(runtime / "auth" / "htpasswd", 0o600)
    assert (runtime / "auth" / "htpasswd").read_text() == alice.line + "\n"  # a value without a final newline too
    assert not (runtime / "auth" / "htpasswd.tmp").exists()


def test_a_restart_without_the_secret_removes_the_file_and_authentication(
    runtime: Path, backend: StubServer, alice: User
) -> None:
    knobs = {"BACKEND_HOST": f"127.0.0.1:{backend.server_port}"}
    first = start_proxy(runtime, BASIC_AUTH_HTPASSWD=alice.line, **knobs)
    try:
        assert get(first.port, "/").status == 401
        assert (runtime / "auth" / "htpasswd").is_file()
    finally:
        stop_proxy(first)
    for unset in ({}, {"BASIC_AUTH_HTPASSWD": ""}):  # unset, then set but empty
        again = start_proxy(runtime, **unset, **knobs)
        try:
            assert not (runtime / "auth").exists(), "the earlier run's htpasswd file lingers"
            resp = get(again.port, "/")
            assert resp.status == 200
            assert resp.body == HELLO
            assert "WWW-Authenticate" not in resp.headers
            directives = [line.strip() for line in again.conf().splitlines() if not line.strip().startswith("#")]
            assert "auth_basic off;" in directives
            assert not any("auth_basic_user_file" in line for line in directives)
            # Without authentication the Authorization header is the backend's business, as before.
            seen = json.loads(get(again.port, "/headers", {"Authorization": "Bearer for-the-app"}).body)
            assert seen["authorization"] == "Bearer for-the-app"
        finally:
            stop_proxy(again)


@pytest.mark.skipif(os.geteuid() != 0, reason="NGINX_USER only matters when nginx starts as root")
def test_nginx_user_lets_root_workers_read_a_file_nobody_could_reach(
    tmp_path: Path, backend: StubServer, alice: User
) -> None:
    # pytest's tmp_path is under a 0700 root directory, as a checkout under /root is: as `nobody` (nginx's
    # default worker user under root) the workers cannot open the htpasswd file and answer 500.
    knobs = {"BACKEND_HOST": f"127.0.0.1:{backend.server_port}", "BASIC_AUTH_HTPASSWD": alice.line}
    for user, status in (("", 500), ("root", 200)):
        proxy = start_proxy(tmp_path / f"rt-{user or 'default'}", NGINX_USER=user, **knobs)
        try:
            assert get(proxy.port, "/", {"Authorization": alice.authorization}).status == status, user
        finally:
            stop_proxy(proxy)


def test_a_bad_nginx_user_is_refused(runtime: Path) -> None:
    result = run_script(proxy_env(runtime, BACKEND_HOST="127.0.0.1:8080", NGINX_USER="root;evil"), "check")
    assert result.returncode == 2
    assert "NGINX_USER='root;evil' is invalid: expected a user name" in result.stderr


# ---- 5: nginx's environment ----------------------------------------------------------


def environ(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def test_nginx_does_not_carry_the_secret_in_its_environment(
    auth_proxy: Proxy, nginx_envs: Path, alice: User, bob: User
) -> None:
    master = nginx_master_pid(auth_proxy)
    assert Path(f"/proc/{master}/exe").resolve() == NGINX.resolve()
    workers = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent_or_none(int(entry.name)) == master
    ]
    assert workers, "no nginx worker found"
    # Every nginx the script ran (`-h`, `-V`, `-t`, then the master itself) was started without it.
    recorded = {int(path.name): path.read_bytes().split(b"\0") for path in nginx_envs.iterdir()}
    assert master in recorded and len(recorded) >= 3, sorted(recorded)
    assert any(var.startswith(b"NGINX_RUNTIME_DIR=") for var in recorded[master])  # the recording works
    # And what /proc shows now, for the master and its workers.
    for env in [*recorded.values(), *(environ(pid) for pid in (master, *workers))]:
        assert not any(var.startswith(b"BASIC_AUTH_HTPASSWD=") for var in env)
        blob = b"\0".join(env)
        for part in (alice.hash, bob.hash, alice.name, bob.name):
            assert part.encode() not in blob


# Every program render-config.sh may run (the others are shell builtins).
SCRIPT_PROGRAMS = ("grep", "tr", "dirname", "basename", "mkdir", "mv", "cat", "rm", "sleep", "chmod", "chown", "id")


@pytest.mark.parametrize("outcome", ["good", "bad"])
def test_no_program_the_script_runs_gets_the_secret(outcome: str, tmp_path: Path, alice: User) -> None:
    # A PATH of wrappers that record their environment, then run the real program.
    bindir, records = tmp_path / "bin", tmp_path / "records"
    bindir.mkdir()
    records.mkdir()
    cat = shutil.which("cat")
    for name in (*SCRIPT_PROGRAMS, "envsubst", "nginx"):
        real = str(NGINX) if name == "nginx" else shutil.which(name)
        assert real, f"{name} is missing"
        (bindir / name).write_text(f'#!/bin/sh\n{cat} /proc/$$/environ >"{records}/{name}.$$"\nexec {real} "$@"\n')
        (bindir / name).chmod(0o755)
    value = f"{alice.line}\n" if outcome == "good" else f"{alice.line}\nbroken-{alice.password}"
    env = proxy_env(tmp_path / "rt", PATH=str(bindir), NGINX_BIN=str(bindir / "nginx"), BACKEND_HOST="127.0.0.1:8080")
    result = run_script({**env, "BASIC_AUTH_HTPASSWD": value}, "check", shell=shutil.which("sh") or "/bin/sh")
    assert result.returncode == (0 if outcome == "good" else 2), result.stderr
    ran = {path.name.split(".")[0] for path in records.iterdir()}
    assert ran >= ({"grep", "mkdir", "mv", "envsubst", "nginx"} if outcome == "good" else {"grep", "tr"}), ran
    for path in records.iterdir():
        recorded = path.read_bytes()
        assert b"BASIC_AUTH_HTPASSWD=" not in recorded, path.name
        assert alice.hash.encode() not in recorded and alice.password.encode() not in recorded, path.name


def _parent_or_none(pid: int) -> int | None:
    try:
        return parent_pid(pid)
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile


# ---- 6: bad values are refused without being shown -----------------------------------


@pytest.mark.parametrize(
    ("shape", "line", "words"),
    [
        ("{a}\nnocolon-{b_user}-{b_pw}", 2, "is not user:hash"),
        ("{a}\n{b_user}:{{PLAIN}}hunter2-{b_pw}", 2, "{PLAIN}"),
        ("{b_user}:{{plain}}hunter2-{b_pw}", 1, "{PLAIN}"),
        ("# team\n\n{a}\n{b_user}:$apr1$x {b_pw}", 4, "whitespace"),
        ("{a}\r\n{b}\r\n", 1, "whitespace"),  # CRLF line breaks
        ("{b_user}\t:{b_pw}", 1, "whitespace"),
        ("{a}\n:{b_pw}", 2, "empty user name"),
        ("{a}\n{b_user}:", 2, "empty hash"),
        ("{a}\n{b_user}::comment-{b_pw}", 2, "empty hash"),
        ("{a}\n" + "u" * 256 + "{b_user}:{b_pw}", 2, "longer than 255"),
        ("# only {b_user}\n\n#  comments {b_pw}\n", None, "no user:hash line"),
        ("   \n\t\n", None, "no user:hash line"),
    ],
)
def test_bad_htpasswd_is_refused_without_showing_it(
    shape: str,
    line: int | None,
    words: str,
    runtime: Path,
    fake_nginx: tuple[Path, Path],  # noqa: F811
    busybox_bin: Path,  # noqa: F811
    alice: User,
) -> None:
    fake, marker = fake_nginx
    b_user, b_pw = f"bob-{secrets.token_hex(4)}", secrets.token_hex(8)
    value = shape.format(a=alice.line, b=f"{b_user}:{b_pw}", b_user=b_user, b_pw=b_pw)
    env = proxy_env(runtime, NGINX_BIN=str(fake), BACKEND_HOST="localhost:8080", BASIC_AUTH_HTPASSWD=value)
    dash = run_script(env, "check")
    busybox = run_script({**env, "PATH": str(busybox_bin)}, "check", shell=str(busybox_bin / "sh"))
    for result in (dash, busybox):
        assert result.returncode == 2, result.stderr
        assert_refused(result, marker, runtime, "BASIC_AUTH_HTPASSWD", words, "(the value is not shown)")
        if line is not None:
            assert f"line {line} " in result.stderr
        assert_not_shown(result.stdout + result.stderr, [*secret_parts(alice), b_user, b_pw, "hunter2"])
        assert not (runtime / "auth").exists()
    assert busybox.stderr == dash.stderr


@pytest.mark.parametrize("realm", ['say "hi"', "back\\slash", "$host", "a;b", "{", "}", "x" * 65, "tab\there", "été"])
def test_bad_realm_is_refused(realm: str, runtime: Path, fake_nginx: tuple[Path, Path], alice: User) -> None:  # noqa: F811
    fake, marker = fake_nginx
    env = proxy_env(
        runtime,
        NGINX_BIN=str(fake),
        BACKEND_HOST="localhost:8080",
        BASIC_AUTH_HTPASSWD=alice.line,
        BASIC_AUTH_REALM=realm,
    )
    result = run_script(env, "check")
    assert result.returncode == 2
    assert_refused(result, marker, runtime, "BASIC_AUTH_REALM=", "is invalid")
    assert_not_shown(result.stderr, secret_parts(alice))


def test_a_good_check_run_never_prints_the_value(
    runtime: Path,
    htpasswd: str,
    alice: User,
    bob: User,
    busybox_bin: Path,  # noqa: F811
) -> None:
    env = proxy_env(runtime, BACKEND_HOST="127.0.0.1:8080", BASIC_AUTH_HTPASSWD=htpasswd, BASIC_AUTH_REALM="x's & y's")
    results = [
        run_script(env, "check"),
        # With busybox's sh and applets, as in the image (id, chmod, chown included there).
        run_script({**env, "PATH": str(_busybox_with_extras(busybox_bin))}, "check", shell=str(busybox_bin / "sh")),
    ]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{runtime / 'conf' / 'nginx.conf'}\n"
        assert result.stderr == ""
        assert_not_shown(result.stdout + result.stderr, secret_parts(alice, bob))
        assert (runtime / "auth" / "htpasswd").read_text() == f"{alice.line}\n{bob.line}\n"  # auth is on
        assert "auth_basic \"x's & y's\";" in (runtime / "conf" / "nginx.conf").read_text()


def _busybox_with_extras(bindir: Path) -> Path:
    """busybox_bin plus the applets the script uses only with authentication on (all in the image)."""
    busybox = (bindir / "sh").resolve()
    for applet in ("id", "chmod", "chown"):
        if not (bindir / applet).exists():
            (bindir / applet).symlink_to(busybox)
    return bindir


def test_basic_auth_under_busybox(runtime: Path, backend: StubServer, busybox_bin: Path, alice: User) -> None:  # noqa: F811
    bindir = _busybox_with_extras(busybox_bin)
    proxy = start_proxy(
        runtime,
        shell=str(bindir / "sh"),
        PATH=str(bindir),
        BACKEND_HOST=f"localhost:{backend.server_port}",
        BASIC_AUTH_HTPASSWD=alice.line,
    )
    try:
        assert get(proxy.port, "/").headers["WWW-Authenticate"] == 'Basic realm="Restricted"'  # the default realm
        assert get(proxy.port, "/", {"Authorization": alice.authorization}).body == HELLO
        assert get(proxy.port, "/healthz").status == 200
        assert_private(runtime / "auth" / "htpasswd", 0o600)
        assert not any(var.startswith(b"BASIC_AUTH_HTPASSWD=") for var in environ(nginx_master_pid(proxy)))
    finally:
        stop_proxy(proxy)


# ---- 7: the logs ---------------------------------------------------------------------


def test_logs_hold_no_credentials(auth_proxy: Proxy, alice: User, bob: User) -> None:
    ids = {}
    for label, headers in (
        ("alice", {"Authorization": alice.authorization}),
        ("bob", {"Authorization": bob.authorization}),
        ("anonymous", {}),
        ("wrong", {"Authorization": User(alice.name, bob.password, "").authorization}),
    ):
        ids[label] = f"auth-log-{label}-{time.monotonic_ns()}"
        get(auth_proxy.port, f"/logged-{label}", {**headers, "X-Request-Id": ids[label]})
    deadline = time.monotonic() + WAIT  # the access log buffer is flushed every second
    while True:
        records = {record["request_id"]: record for record in auth_proxy.log_records()}
        if all(request_id in records for request_id in ids.values()):
            break
        assert time.monotonic() < deadline, "no access log lines for the requests"
        time.sleep(0.1)
    assert records[ids["alice"]]["status"] == records[ids["bob"]]["status"] == 200
    assert records[ids["anonymous"]]["status"] == records[ids["wrong"]]["status"] == 401
    log = "".join(auth_proxy.stdout)
    assert "Basic " not in log
    for user in (alice, bob):
        assert_not_shown(log, [user.password, user.authorization[6:], user.hash])
    # nginx's error log (stderr) names the user of a failed login (`user "x": password mismatch`,
    # the name the client sent), never a password, hash or the header.
    errors = "".join(auth_proxy.stderr)
    for user in (alice, bob):
        assert_not_shown(errors, [user.password, bob.password, user.authorization[6:], user.hash])
