"""The OS isolation of the grader's child process (autograder/grading/isolation.py).

Every claim of the module docstring is checked by running the venv's Python
through :meth:`Isolation.wrap` and, where it proves something, the same code
unwrapped too, so that a test shows the difference the sandbox makes rather
than a property the machine happens to have. The tests that run bubblewrap skip
(with bubblewrap's own reason) only where it cannot start a sandbox.

Note: pytest's ``tmp_path`` lies under /tmp, which the sandbox replaces by an
empty private tmpfs anyway; what must be *hidden* is therefore put outside /tmp
(fixture ``outside``), or hiding it would prove nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from autograder.grading import isolation
from autograder.grading.isolation import Isolation, detect

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = str(VENV / "bin" / "python") if (VENV / "bin" / "python").exists() else sys.executable
SECRET = "the-answer-is-42"


@pytest.fixture(scope="module")
def iso() -> Isolation:
    try:
        found = detect("bubblewrap")
    except RuntimeError as exc:
        if os.environ.get("CI"):  # .ci/run installs bubblewrap: CI must prove the isolation
            pytest.fail(f"bubblewrap cannot run a sandbox in CI: {exc}")
        pytest.skip(f"bubblewrap cannot run a sandbox on this machine: {exc}")
    assert found.kind == "bubblewrap"
    return found


@pytest.fixture
def work(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def outside():
    """A scratch folder outside /tmp (the sandbox's /tmp is private, so it would hide anything anyway)."""
    for base in ("/var/tmp", str(Path.home()), str(ROOT)):
        if os.path.isdir(base) and os.access(base, os.W_OK):
            break
    folder = Path(tempfile.mkdtemp(prefix="rnn-isolation-test-", dir=base))
    assert not str(folder).startswith("/tmp/")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
    )


def python(code: str) -> list[str]:
    return [PYTHON, "-c", code]


def report(done: subprocess.CompletedProcess) -> dict:
    """The JSON object that the child's code printed last."""
    assert done.returncode == 0, (
        f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# The command line itself (no bubblewrap needed)
# ---------------------------------------------------------------------------


def test_wrap_orders_mounts_and_skips_missing_paths(outside):
    iso = Isolation("bubblewrap", "test", binary="bwrap")
    course, secret = outside / "course", outside / "key.txt"
    (course / ".venv").mkdir(parents=True)
    secret.write_text(SECRET)
    link = outside / "link-to-key"
    link.symlink_to(secret)
    cmd = iso.wrap(
        ["python", "-c", "1"],
        workdir=outside,
        hide=[course, link, outside / "missing"],
        reveal=[course / ".venv", outside / "also-missing"],
    )
    assert cmd[:4] == ["bwrap", "--ro-bind", "/", "/"]
    assert cmd[-4:] == ["--", "python", "-c", "1"]
    assert str(outside / "missing") not in cmd and str(outside / "also-missing") not in cmd

    def at(*words):  # index of the option sequence in cmd
        return next(i for i in range(len(cmd)) if cmd[i : i + len(words)] == list(words))

    hide_dir = at("--tmpfs", str(course))
    hide_file = at("--dev-bind", "/dev/null", str(secret))  # the symlink's target, resolved
    reveal = at("--ro-bind", str(course / ".venv"), str(course / ".venv"))
    writable = at("--bind", str(outside), str(outside))
    assert at("--dev", "/dev") < at("--tmpfs", "/tmp") < hide_dir < reveal < writable
    assert hide_file < reveal
    assert at("--remount-ro", str(course)) > writable
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop"):
        assert flag in cmd
    assert cmd[at("--chdir") + 1] == str(outside)
    with pytest.raises(FileNotFoundError):
        iso.wrap(["true"], workdir=outside / "no-such-folder")


def test_none_leaves_the_command_alone(monkeypatch):
    none = detect("none")
    assert none.kind == "none" and "asked for" in none.detail
    argv = ["python", "-c", "print(1)"]
    assert none.wrap(argv, workdir="/nonexistent", hide=["/etc"]) == argv
    monkeypatch.setenv(isolation.MODE_ENV, "none")
    assert detect().kind == "none" and isolation.MODE_ENV in detect().detail
    with pytest.raises(ValueError, match="not one of"):
        detect("docker")


def test_missing_binary_falls_back_or_raises(monkeypatch, tmp_path):
    missing = tmp_path / "no-bwrap-here"
    monkeypatch.setenv(isolation.BINARY_ENV, str(missing))
    auto = detect("auto")
    assert auto.kind == "none"
    assert "bubblewrap unavailable" in auto.detail and str(missing) in auto.detail
    assert auto.wrap(["true"], workdir=tmp_path) == ["true"]
    with pytest.raises(RuntimeError, match=f"{isolation.BINARY_ENV}=.*not an executable"):
        detect("bubblewrap")

    monkeypatch.delenv(isolation.BINARY_ENV)  # nothing on PATH, nothing at /usr/bin/bwrap
    monkeypatch.setattr(
        isolation.shutil, "which", lambda name, *a, **k: None if name == "bwrap" else "/bin/true"
    )
    monkeypatch.setattr(isolation, "DEFAULT_BINARY", str(missing))
    auto = detect("auto")
    assert auto.kind == "none" and "no bwrap on PATH" in auto.detail


def test_broken_bwrap_is_explained(monkeypatch, tmp_path):
    """A bwrap that cannot create namespaces (user namespaces off): the reason reaches the detail line."""
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\n"
        "if [ \"$1\" = --version ]; then echo 'bubblewrap 9.9.9'; exit 0; fi\n"
        "echo 'bwrap: No permissions to create new namespace, likely because the kernel "
        "does not allow non-privileged user namespaces.' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv(isolation.BINARY_ENV, str(fake))
    auto = detect("auto")
    assert auto.kind == "none"
    assert (
        "bubblewrap 9.9.9" in auto.detail
        and "No permissions to create new namespace" in auto.detail
    )
    assert "user namespaces" in auto.detail and "exit status 1" in auto.detail
    with pytest.raises(RuntimeError, match="No permissions to create new namespace"):
        detect("bubblewrap")


def test_trial_is_cached(iso):
    start = time.perf_counter()
    assert detect("bubblewrap") is iso and detect("auto") is iso
    assert time.perf_counter() - start < 0.05
    assert iso.detail.startswith("bubblewrap ") and "no network" in iso.detail


# ---------------------------------------------------------------------------
# The sandbox at work
# ---------------------------------------------------------------------------


def test_venv_usable_while_the_course_folder_is_hidden(iso, work):
    """Hide the whole repository, reveal its .venv: numpy and torch import, the course does not."""
    code = """if True:
        import json, os, numpy, torch
        try:
            import autograder
            course = "importable"
        except ImportError:
            course = "hidden"
        print(json.dumps({"numpy": numpy.__version__, "torch": torch.__version__,
                          "sum": float(torch.ones(3).sum()), "course": course,
                          "root": sorted(os.listdir(%r))}))
    """ % str(ROOT)
    out = report(run(iso.wrap(python(code), workdir=work, hide=[ROOT], reveal=[VENV])))
    assert out["sum"] == 3.0 and out["numpy"] and out["torch"]
    assert out["course"] == "hidden"
    assert out["root"] == [".venv"]  # only the revealed folder's mount point


CONNECT = """if True:
    import json, socket
    try:
        socket.create_connection(("127.0.0.1", %d), timeout=3).close()
        result = "connected"
    except OSError as exc:
        result = type(exc).__name__ + ": " + str(exc)
    print(json.dumps({"result": result}))
"""


def test_no_network(iso, work):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        code = CONNECT % server.getsockname()[1]
        outside = report(run(python(code)))
        inside = report(run(iso.wrap(python(code), workdir=work)))
    assert outside["result"] == "connected"  # the server is reachable here ...
    assert inside["result"].startswith("ConnectionRefusedError"), (
        inside
    )  # ... but not from the sandbox

    code = """if True:
        import fcntl, json, socket, struct
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            request = struct.pack("16sH14s", b"lo", 0, bytes(14))
            flags = struct.unpack("16sH14s", fcntl.ioctl(s.fileno(), 0x8913, request))[1]  # SIOCGIFFLAGS
        devices = [line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]]
        routes = open("/proc/net/route").readlines()[1:]
        print(json.dumps({"names": [n for _, n in socket.if_nameindex()], "lo_up": bool(flags & 1),
                          "devices": devices, "routes": len(routes)}))
    """
    out = report(run(iso.wrap(python(code), workdir=work)))
    # bwrap brings up a loopback of the namespace's own (so a child may talk to itself),
    # but there is no other interface and no route anywhere else.
    assert out == {"names": ["lo"], "lo_up": True, "devices": ["lo"], "routes": 0}


WRITE_PROBES = """if True:
    import errno, json, os, sys
    results = {}
    def attempt(path, flags):
        try:
            os.close(os.open(path, flags, 0o644))
            results[path] = "ok"
        except OSError as exc:
            results[path] = errno.errorcode.get(exc.errno, str(exc.errno))
    for path in sys.argv[1].split("|"):
        attempt(path, os.O_WRONLY | os.O_APPEND)                 # existing: opened, nothing written
    for path in sys.argv[2].split("|"):
        attempt(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)      # new files
    with open(sys.argv[3], "w") as f:
        f.write("written inside")
    print(json.dumps(results))
"""


def test_writes_only_in_the_work_folder(iso, work):
    tag = uuid.uuid4().hex[:8]
    existing = [
        str(ROOT / "pyproject.toml"),
        "/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd",
    ]
    new = [
        str(ROOT / f"probe-{tag}"),
        f"/etc/probe-{tag}",
        f"{Path.home()}/probe-{tag}",
        f"/var/tmp/probe-{tag}",
        f"/tmp/probe-{tag}",
    ]
    before = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in existing}
    argv = python(WRITE_PROBES) + ["|".join(existing), "|".join(new), str(work / "out.txt")]
    try:
        out = report(run(iso.wrap(argv, workdir=work)))
    finally:
        leaked = [p for p in new if os.path.exists(p)]
        for p in leaked:
            os.remove(p)
    assert leaked == []
    assert {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in existing} == before
    for path in existing + new[:-1]:
        if path.startswith("/tmp/"):
            continue  # a checkout under /tmp: inside, that is the private /tmp (host unchanged)
        assert out[path] in ("EROFS", "EACCES", "EPERM"), (path, out[path])
    assert out[f"/tmp/probe-{tag}"] == "ok"  # the private /tmp is writable ...
    assert (work / "out.txt").read_text() == "written inside"  # ... and so is the work folder


def test_hidden_folder_and_file(iso, outside):
    """A hidden folder is empty and read-only inside, a hidden file reads empty; the work folder may lie inside."""
    secrets, key = outside / "solutions", outside / "key.txt"
    secrets.mkdir()
    (secrets / "answer.txt").write_text(SECRET)
    key.write_text(SECRET)
    work = outside / "work"  # inside `outside`, which is hidden below
    work.mkdir()
    code = """if True:
        import json, os, sys
        secrets, key = sys.argv[1], sys.argv[2]
        try:
            open(os.path.join(secrets, "planted.py"), "w").close()
            plant = "ok"
        except OSError as exc:
            plant = type(exc).__name__
        try:
            text = open(key).read()
        except OSError as exc:
            text = type(exc).__name__
        with open("from-inside.txt", "w") as f:
            f.write("ok")
        print(json.dumps({"listing": sorted(os.listdir(secrets)) if os.path.isdir(secrets) else None,
                          "key": text, "plant": plant,
                          "outside": sorted(os.listdir(os.path.dirname(key)))}))
    """
    argv = python(code) + [str(secrets), str(key)]
    control = report(run(iso.wrap(argv, workdir=work)))  # nothing hidden: the secrets show
    assert control["listing"] == ["answer.txt"] and control["key"] == SECRET
    (secrets / "planted.py").unlink(missing_ok=True)  # the control could write? must not
    assert control["plant"] != "ok"

    out = report(run(iso.wrap(argv, workdir=work, hide=[secrets, key])))
    assert out["listing"] == [] and out["key"] == "" and out["plant"] != "ok"
    assert SECRET not in json.dumps(out)

    out = report(run(iso.wrap(argv, workdir=work, hide=[outside])))  # hide the work folder's parent
    assert (
        out["outside"] == ["work"] and out["listing"] is None and out["key"] == "FileNotFoundError"
    )
    assert out["plant"] != "ok"
    assert (work / "from-inside.txt").read_text() == "ok"
    assert not (secrets / "planted.py").exists()


def test_nested_hidden_paths_and_paths_under_tmp(iso, outside, tmp_path):
    """The grader hides the instructor folder and the submissions inside it, and folders under
    /tmp (already private): neither may break the sandbox (it once failed to start)."""
    secrets = outside / "instructor" / "submitted" / "bob"
    secrets.mkdir(parents=True)
    (secrets / "answer.txt").write_text(SECRET)
    work = tmp_path / "work"
    work.mkdir()
    code = """if True:
        import json, os, sys
        print(json.dumps({"seen": os.path.isdir(sys.argv[1]), "tmp": os.listdir("/tmp")}))
    """
    hide = [outside / "instructor", outside / "instructor" / "submitted", secrets, tmp_path]
    out = report(run(iso.wrap(python(code) + [str(secrets)], workdir=work, hide=hide)))
    assert out["seen"] is False and SECRET not in json.dumps(out)


def test_own_session_pid_namespace_no_capabilities(iso, work, outside):
    hidden = outside / "hidden"
    hidden.mkdir()
    (hidden / "answer.txt").write_text(SECRET)
    code = """if True:
        import json, os, shutil, subprocess, sys
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        def tried(*cmd):
            if not shutil.which(cmd[0]):
                return "missing"
            return subprocess.run(cmd, capture_output=True).returncode
        print(json.dumps({
            "sid": os.getsid(0), "pid": os.getpid(), "ppid": os.getppid(),
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "cap_eff": int(status["CapEff"], 16), "cap_bnd": int(status["CapBnd"], 16),
            "no_new_privs": status["NoNewPrivs"].strip(),
            # the escapes a root child with capabilities could use:
            "remount": tried("mount", "-o", "remount,rw,bind", "/"),
            "umount": tried("umount", sys.argv[1]),
            "listing": os.listdir(sys.argv[1]),
            "userns": tried("unshare", "--user", "true"),
        }))
    """
    out = report(run(iso.wrap(python(code) + [str(hidden)], workdir=work, hide=[hidden])))
    assert out["sid"] != os.getsid(0) and out["sid"] in (1, out["pid"])  # a session of its own
    assert out["pid"] <= 3 and out["ppid"] == 1  # under bwrap's init in a new PID namespace
    assert (
        os.getpid() not in out["pids"] and len(out["pids"]) <= 4
    )  # sees none of the host's processes
    assert out["cap_eff"] == 0 and out["cap_bnd"] == 0 and out["no_new_privs"] == "1"
    assert out["remount"] != 0 and out["umount"] != 0 and out["listing"] == []
    if "--disable-userns" in iso.namespaces:
        assert out["userns"] not in (0, "missing")


CHILD_THEN_SLEEP = """if True:
    import os, time
    if os.fork() == 0:          # a grandchild that runs off into a session of its own
        os.setsid()
        time.sleep(60)
        os._exit(0)
    open("ready", "w").close()
    time.sleep(60)
"""


@pytest.mark.parametrize("victim", ["bwrap", "its parent"])
def test_everything_dies_with_the_parent(iso, work, victim):
    """Kill bwrap, or the process that started it: child and grandchild go too.

    They hold the write end of a pipe; its read end here sees end-of-file only
    once every process holding it has died.
    """
    read_end, write_end = os.pipe()
    wrapped = iso.wrap(python(CHILD_THEN_SLEEP), workdir=work)
    if victim == "bwrap":
        proc = subprocess.Popen(wrapped, pass_fds=(write_end,), stdin=subprocess.DEVNULL)
    else:
        starter = (
            "import subprocess, sys, time; subprocess.Popen(sys.argv[1:], "
            f"pass_fds=({write_end},), stdin=subprocess.DEVNULL); time.sleep(60)"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", starter, *wrapped],
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
        )
    os.close(write_end)
    try:
        deadline = time.monotonic() + 30
        while not (work / "ready").exists():
            assert time.monotonic() < deadline and proc.poll() is None, (
                "the sandboxed child never started"
            )
            time.sleep(0.02)
        time.sleep(0.1)  # let the grandchild reach its setsid()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        readable, _, _ = select.select([read_end], [], [], 5)
        assert readable and os.read(read_end, 1) == b"", "a sandboxed process outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(read_end)
