"""A fork server for grading kernels: the expensive imports once per worker, a fresh process per notebook.

Starting nbgrader's kernel costs about two seconds, mostly ``import torch``
(the notebook imports :mod:`autograder.checks`) and ``ipykernel``. The zygote
is one subprocess per worker process (started lazily by :mod:`.job`) that has
done these imports and nothing else: no torch op, no thread, no ZMQ context,
no event loop. For each kernel it ``fork()``s a *new* process (copy-on-write),
so one submission's kernel never sees another's state: the child starts from
the zygote's pristine memory, exactly as a freshly started interpreter that has
imported the same modules.

Protocol (Unix stream socket in a private 0700 folder): the launcher
(:mod:`.kernel_launcher`, started by jupyter_client from the kernelspec) sends
its stdin/stdout/stderr with ``SCM_RIGHTS`` and a JSON request
``{"argv", "env", "cwd", "mem", "launcher"}``. The zygote forks; the child

* ``setsid()``s (own process group: signals forwarded by the launcher reach the
  kernel and what it starts), installs the launcher's stdio on fds 0-2,
* applies ``RLIMIT_AS`` (``mem``) and ``RLIMIT_CORE=0``, the environment, the
  working directory, default signal handlers, fresh NumPy/``random`` seeds,
* watches the launcher (``pidfd``) in a daemon thread and kills its process
  group when the launcher disappears (e.g. SIGKILLed by jupyter_client),
* runs ``IPKernelApp.launch_instance`` and leaves through the normal
  interpreter shutdown.

The zygote replies ``{"pid"}``, keeps the connection, sends ``{"exit": status}``
when it reaps the child, and kills the child's process group if the launcher's
connection closes first. The zygote exits (killing its kernels) when its parent
(the worker) goes away.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ENV_SOCKET = "RNN_GRADE_ZYGOTE"  # set for the kernel launcher: where to ask for a kernel
ENV_PID = "RNN_GRADE_ZYGOTE_PID"  # the zygote's pid: the launcher talks only to that process
ENV_DISABLE = "RNN_GRADE_NO_ZYGOTE"  # set to 1 to start every kernel the stock way

_HEADER = struct.Struct("!I")
_MAX_REQUEST = 4 * 2**20


# ----------------------------------------------------------------------------- wire format


def send_message(sock: socket.socket, obj, fds=()) -> None:
    data = json.dumps(obj).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [payload], list(fds))
        if sent < len(payload):
            sock.sendall(payload[sent:])
    else:
        sock.sendall(payload)


def recv_message(sock: socket.socket, maxfds: int = 0):
    """One message (and up to ``maxfds`` fds); ``(None, [])`` at end of stream."""
    fds: list[int] = []
    if maxfds:
        data, fds, _flags, _addr = socket.recv_fds(sock, 65536, maxfds)
    else:
        data = sock.recv(65536)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    buf = bytearray(data)
    try:
        while len(buf) < _HEADER.size:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("truncated message")
            buf += more
        (size,) = _HEADER.unpack_from(buf)
        if size > _MAX_REQUEST:
            raise ConnectionError("message too large")
        while len(buf) < _HEADER.size + size:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("truncated message")
            buf += more
        return json.loads(bytes(buf[_HEADER.size : _HEADER.size + size])), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


# ----------------------------------------------------------------------------- worker side


class Zygote:
    """Handle on a running zygote process (worker side)."""

    def __init__(self, proc: subprocess.Popen, folder: str, ready_fd: int):
        self.proc = proc
        self.folder = folder
        self.path = os.path.join(folder, "zygote.sock")
        self._ready_fd = ready_fd
        self.ready = False
        self.failed = False

    def wait_ready(self, timeout: float) -> bool:
        if self.ready:
            return self.proc.poll() is None
        if self.failed:
            return False
        import select

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self._ready_fd], [], [], left)
            if r:
                data = os.read(self._ready_fd, 64)
                self.ready = data.startswith(b"ready")
                break
        os.close(self._ready_fd)
        self._ready_fd = -1
        if not self.ready:
            self.failed = True
            self.stop()
        return self.ready

    def alive(self) -> bool:
        return not self.failed and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                try:
                    self.proc.wait(5)
                except Exception:
                    pass
        if self._ready_fd >= 0:
            os.close(self._ready_fd)
            self._ready_fd = -1
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


_CURRENT: Zygote | None = None
_FAILURES = 0


def disabled() -> bool:
    return (
        os.environ.get(ENV_DISABLE, "").strip() not in ("", "0")
        or not hasattr(os, "fork")
        or not hasattr(socket, "send_fds")
        or not hasattr(os, "pidfd_open")
    )


def start(env: dict[str, str]) -> Zygote | None:
    """Start this process's zygote if none is running (does not wait for it)."""
    global _CURRENT
    if disabled() or _FAILURES >= 3:
        return None
    if _CURRENT is not None and _CURRENT.alive():
        return _CURRENT
    if _CURRENT is not None:
        _CURRENT.stop()
        _CURRENT = None
    folder = tempfile.mkdtemp(prefix="rnn-grade-zygote-")
    os.chmod(folder, 0o700)
    r, w = os.pipe()
    full_env = dict(os.environ)
    full_env.update(env)
    full_env.pop(ENV_SOCKET, None)
    full_env.pop(ENV_PID, None)
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "autograder.grading.zygote",
                os.path.join(folder, "zygote.sock"),
                str(w),
                str(os.getpid()),
            ],
            env=full_env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            pass_fds=(w,),
            close_fds=True,
        )
    except Exception:
        os.close(r)
        os.close(w)
        os.rmdir(folder)
        return None
    os.close(w)
    _CURRENT = Zygote(proc, folder, r)
    import atexit

    atexit.register(_CURRENT.stop)
    return _CURRENT


def socket_path(env: dict[str, str], timeout: float = 60.0) -> str | None:
    """The socket of a ready zygote for this process (starting one if needed), or None."""
    global _FAILURES
    zyg = start(env)
    if zyg is None:
        return None
    if zyg.wait_ready(timeout):
        return zyg.path
    _FAILURES += 1
    return None


def configure(env: dict[str, str], timeout: float = 60.0) -> bool:
    """Point this process's kernel launchers at its zygote (started if needed), or unset."""
    path = socket_path(env, timeout)
    if path and _CURRENT is not None:
        os.environ[ENV_SOCKET] = path
        os.environ[ENV_PID] = str(_CURRENT.proc.pid)
        return True
    os.environ.pop(ENV_SOCKET, None)
    os.environ.pop(ENV_PID, None)
    return False


def stop() -> None:
    global _CURRENT
    if _CURRENT is not None:
        _CURRENT.stop()
        _CURRENT = None


# ----------------------------------------------------------------------------- launcher side


def request_kernel(path: str, argv: list[str], mem: int):
    """Ask the zygote at ``path`` for a kernel; return ``(connection, pid)`` or raise OSError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(30)
        sock.connect(path)
        # Only the worker's own zygote (not whatever else might bind that path) gets the request.
        cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        peer_pid, peer_uid, _gid = struct.unpack("3i", cred)
        if peer_pid != int(os.environ.get(ENV_PID) or -1) or peer_uid != os.getuid():
            raise ConnectionRefusedError("not the worker's zygote")
        env = dict(os.environ)
        env.pop(ENV_SOCKET, None)
        env.pop(ENV_PID, None)
        send_message(
            sock,
            {
                "argv": list(argv),
                "env": env,
                "cwd": os.getcwd(),
                "mem": int(mem),
                "launcher": os.getpid(),
            },
            fds=(0, 1, 2),
        )
        reply, _ = recv_message(sock)
        if not reply or "pid" not in reply:
            raise ConnectionError(f"zygote refused: {reply!r}")
        sock.settimeout(None)
        return sock, int(reply["pid"])
    except BaseException:
        sock.close()
        raise


def stand_in(sock: socket.socket, pid: int) -> int:
    """Stay alive as the kernel's process for jupyter_client; return its exit status.

    SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to this process (jupyter_client signals the
    launcher's process group) are forwarded to the kernel's process group.
    """

    def forward(signum, _frame):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    for sig in (
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
    ):
        signal.signal(sig, forward)
    try:
        reply, _ = recv_message(sock)
    except (OSError, ValueError):
        reply = None
    sock.close()
    if reply and "exit" in reply:
        return int(reply["exit"])
    # The zygote went away before the kernel: wait for the kernel ourselves.
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 1
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(1000):
        pass
    os.close(fd)
    return 1


# ----------------------------------------------------------------------------- zygote process


def _preload() -> None:
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(key, "1")
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.zmqshell  # noqa: F401
    import numpy  # noqa: F401
    import numpy.random  # noqa: F401
    import torch  # noqa: F401
    import torch.nn.functional  # noqa: F401
    from ipykernel import kernelapp  # noqa: F401

    from ..chapters import CHAPTERS

    for chapter in CHAPTERS:
        try:
            __import__(f"autograder.checks.{chapter.module}")
            __import__(f"autograder.references.{chapter.module}")
        except Exception:
            pass


def _child_setup(req: dict, fds: list[int], report_fd: int) -> None:
    """In the forked child: become a fresh, limited kernel process."""
    import resource

    os.setsid()
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    mem = int(req.get("mem") or 0)
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in req.get("env", {}).items()})
    os.chdir(req["cwd"])
    try:
        import numpy.random

        numpy.random.seed()
    except Exception:
        pass
    import random

    random.seed()
    # Re-open the std streams on the launcher's fds (the zygote's buffers are dropped).
    sys.stdin = sys.__stdin__ = open(0, closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False)
    sys.argv = [
        os.path.join(os.path.dirname(__file__), "kernel_launcher.py"),
        *[str(a) for a in req.get("argv", [])],
    ]
    launcher = int(req.get("launcher") or 0)
    if launcher > 0:
        pidfd = os.pidfd_open(launcher)  # raises if the launcher is already gone
        import threading

        def watch():
            import select

            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            while not poller.poll():
                pass
            os.killpg(0, signal.SIGKILL)

        threading.Thread(target=watch, name="launcher-watch", daemon=True).start()
    os.write(report_fd, b"ok")
    os.close(report_fd)


def _serve(path: str, ready_fd: int, parent: int):
    """The zygote's loop; returns the request in a forked child, never in the zygote."""
    import selectors

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(16)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "listen")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    children: dict[int, socket.socket] = {}  # kernel pid -> launcher connection
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)

    def kill_child(pid: int) -> None:
        for fn in (os.killpg, os.kill):
            try:
                fn(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = children.pop(pid, None)
            if conn is not None:
                code = os.waitstatus_to_exitcode(status)
                try:
                    sel.unregister(conn)
                except (KeyError, ValueError):
                    pass
                try:
                    conn.setblocking(True)
                    conn.settimeout(2)
                    send_message(conn, {"exit": code})
                except OSError:
                    pass
                conn.close()

    while not stop:
        if os.getppid() != parent:
            break
        for key, _events in sel.select(timeout=1.0):
            if key.data == "wake":
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                reap()
            elif key.data == "listen":
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                fds: list[int] = []
                try:
                    conn.settimeout(10)
                    req, fds = recv_message(conn, maxfds=3)
                    if not req or len(fds) != 3:
                        raise ConnectionError("bad request")
                    rep_r, rep_w = os.pipe()
                    pid = os.fork()
                    if pid == 0:
                        # The child: drop everything of the zygote, then become the kernel.
                        try:
                            signal.set_wakeup_fd(-1)
                            for sig in (signal.SIGCHLD, signal.SIGTERM):
                                signal.signal(sig, signal.SIG_DFL)
                            signal.signal(signal.SIGINT, signal.default_int_handler)
                            sel.close()
                            listener.close()
                            for other in children.values():
                                other.close()
                            conn.close()
                            os.close(wake_r)
                            os.close(wake_w)
                            os.close(rep_r)
                            _child_setup(req, fds, rep_w)
                        except BaseException as err:  # noqa: BLE001
                            try:
                                os.write(rep_w, f"error {type(err).__name__}: {err}".encode()[:500])
                            finally:
                                os._exit(70)
                        return req
                    for fd in fds:
                        os.close(fd)
                    fds = []
                    os.close(rep_w)
                    status = b""
                    while True:  # until the child has set itself up (or died trying)
                        chunk = os.read(rep_r, 512)
                        if not chunk:
                            break
                        status += chunk
                    os.close(rep_r)
                    if status != b"ok":
                        kill_child(pid)
                        raise ChildProcessError(status.decode(errors="replace") or "child died")
                    children[pid] = conn
                    conn.settimeout(10)
                    send_message(conn, {"pid": pid})
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, pid)
                except Exception as err:  # noqa: BLE001
                    for fd in fds:
                        os.close(fd)
                    try:
                        send_message(conn, {"error": f"{type(err).__name__}: {err}"})
                    except OSError:
                        pass
                    conn.close()
                reap()
            else:
                # A launcher's connection: readable means it closed (the launcher died).
                pid = key.data
                conn = key.fileobj
                try:
                    data = conn.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data and pid in children:
                    sel.unregister(conn)
                    kill_child(pid)
        reap()
    for pid in list(children):
        kill_child(pid)
    deadline = time.monotonic() + 5
    while children and time.monotonic() < deadline:
        reap()
        time.sleep(0.05)
    for remove, target in ((os.unlink, path), (os.rmdir, os.path.dirname(path))):
        try:
            remove(target)
        except OSError:
            pass
    os._exit(0)


def _main() -> None:
    path, ready_fd, parent = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    _preload()
    req = _serve(path, ready_fd, parent)
    # Only a forked child gets here: run the kernel, then leave like any interpreter.
    from ipykernel.kernelapp import IPKernelApp

    # Trait defaults read from the environment at import time (in the zygote) are set
    # from the kernel's own environment: with a parent, ipykernel prints no banner.
    IPKernelApp.launch_instance(
        argv=[str(a) for a in req.get("argv", [])],
        parent_handle=int(os.environ.get("JPY_PARENT_PID") or 0),
    )


if __name__ == "__main__":
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    _main()
