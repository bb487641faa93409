"""Operating-system isolation for the process that runs a student's code.

Python's audit hooks are not a sandbox (the :mod:`sys` docs say so): code in
the same interpreter can get around them. The process that runs a student's
answer cells is therefore also fenced in by the kernel, with bubblewrap
(``bwrap``, the tool Flatpak uses). :func:`detect` finds out once per process
whether bubblewrap works here and returns an :class:`Isolation`;
:meth:`Isolation.wrap` turns a command line into one that runs isolated::

    iso = detect()                       # RNN_GRADE_ISOLATION=auto|bubblewrap|none
    argv = iso.wrap([python, "-I", "child.py"], workdir=work,
                    hide=[course_root, gradebook], reveal=[course_root / ".venv"])
    subprocess.run(argv, ...)
    print(iso.describe(hide=[...]))      # one line for the grader's output

What the wrapped process gets (kind ``"bubblewrap"``):

* **No network.** A new network namespace holds only the loopback interface,
  and it is down: no TCP or UDP anywhere, not even to ``127.0.0.1`` of the host.
* **A read-only file system.** The whole host file system is visible read-only,
  except the paths in ``hide``: a hidden folder is covered by an empty,
  read-only tmpfs, a hidden file by ``/dev/null`` (it reads as empty, writes
  vanish). Paths in ``reveal`` are then bound back read-only (hide the course
  folder, reveal its ``.venv``). The work folder is the one writable place that
  the host sees afterwards; ``/tmp`` and ``/dev/shm`` are private, empty tmpfs
  mounts with a size cap (they live in memory and vanish with the process).
* **Its own session and namespaces**: a new session (no controlling terminal,
  so no ``TIOCSTI`` keystroke injection; the caller's ``killpg`` does not reach
  it, see below), its own PID namespace (it cannot see or signal the grader's
  processes), IPC, UTS and cgroup namespaces, a fresh ``/proc`` and ``/dev``.
* **No capabilities.** ``--cap-drop ALL``. This matters when the grader runs as
  root: bubblewrap then keeps every capability inside the sandbox by default,
  and a root child could simply ``mount -o remount,rw /`` and write to the
  host's files, or unmount the tmpfs that hides a folder. ``no_new_privs`` is
  set, so set-uid programs do not help either. Where user namespaces work, the
  child cannot create new ones (``--disable-userns``).
* **It dies with its parent.** ``--die-with-parent``: when the process that
  started ``bwrap`` dies, or ``bwrap`` itself is killed (for instance by the
  caller's ``killpg`` of the group it put ``bwrap`` in), the sandbox's PID 1
  gets SIGKILL, and with it every process in the PID namespace, also those
  that forked away or started their own session.

What is *not* isolated:

* The process still runs as the grading user (mapped to the same uid), so
  whatever that user may read and is not hidden, the student's code may read:
  hide the solutions, the course package's source, the gradebook, keys.
* CPU time, memory, file sizes and process counts are not limited by
  bubblewrap: the child applies its own limits with :func:`resource.setrlimit`
  before running student code, and the caller enforces the wall-clock timeout.
  The work folder lies on the host's disk and is only limited by
  ``RLIMIT_FSIZE`` per file.
* The environment variables and any file descriptors the caller passes on are
  inherited (``subprocess`` closes other descriptors by default): pass a clean
  ``env``.
* There is no system-call filter (seccomp), and the kernel is shared: a kernel
  bug can still be an escape. This is a fence against cheating and accidents,
  not against a determined attacker with a kernel exploit.

Kind ``"none"`` (bubblewrap missing or not working, or asked for): the command
line is left as it is, and only the in-process guard of the child remains. The
``detail`` line says why, so that a report never claims isolation it did not
have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Environment variable that picks the mode of :func:`detect` ("auto", "bubblewrap", "none").
MODE_ENV = "RNN_GRADE_ISOLATION"
#: Environment variable naming the bwrap binary to use (default: ``bwrap`` on PATH, else /usr/bin/bwrap).
BINARY_ENV = "RNN_GRADE_BWRAP"
MODES = ("auto", "bubblewrap", "none")
DEFAULT_BINARY = "/usr/bin/bwrap"
#: How long the trial run of bwrap may take before it counts as not working.
TRIAL_SECONDS = 5.0
#: Size cap of the private /tmp and /dev/shm (each) inside the sandbox.
TMPFS_BYTES = 256 * 2**20

#: Namespace flags, best first. The first also forbids new user namespaces inside,
#: which needs a user namespace for the sandbox; the second works without one
#: (bwrap run by root with user namespaces switched off).
_NAMESPACE_CHOICES: tuple[tuple[str, ...], ...] = (
    ("--unshare-all", "--unshare-user", "--disable-userns"),
    ("--unshare-all",),
)


@dataclass(frozen=True)
class Isolation:
    """How the process that runs student code is isolated; see the module docstring.

    ``kind`` is ``"bubblewrap"`` or ``"none"``; ``detail`` is one line for the
    grader's output and report. Make one with :func:`detect`, not by hand (the
    other fields record what the trial run found to work).
    """

    kind: str
    detail: str
    binary: str = "bwrap"
    namespaces: tuple[str, ...] = _NAMESPACE_CHOICES[0]
    tmpfs_bytes: int = TMPFS_BYTES

    def wrap(
        self,
        argv: list[str],
        *,
        workdir: str | Path,
        hide: Sequence[str | Path] = (),
        reveal: Sequence[str | Path] = (),
    ) -> list[str]:
        """The command line that runs ``argv`` isolated.

        - kind ``"none"``: ``argv`` unchanged (a copy).
        - kind ``"bubblewrap"``: mounts, in this order (later ones sit on top):
          the whole file system read-only (``--ro-bind / /``), a fresh ``/dev``
          and ``/proc``, a private size-capped tmpfs on ``/tmp`` and ``/dev/shm``,
          an empty tmpfs over every folder in ``hide`` (``/dev/null`` over every
          hidden file), every path in ``reveal`` bound back read-only, and
          ``workdir`` bound read-write, the one writable place the host sees (it
          may lie under ``/tmp`` or under a hidden folder). The hidden folders'
          tmpfs mounts are then made read-only. All namespaces are unshared (no
          network, own PID namespace, ...), all capabilities dropped, the child
          gets a new session, dies with its parent and starts in ``workdir``.

        Paths in ``hide`` and ``reveal`` that do not exist are skipped; symlinks
        are resolved (hiding a symlink hides its target). ``argv[0]`` must stay
        visible: if it lies in a hidden folder, reveal it (or its venv).
        """
        if self.kind == "none":
            return list(argv)
        if self.kind != "bubblewrap":
            raise ValueError(f"unknown isolation kind {self.kind!r}")
        if not argv:
            raise ValueError("argv is empty")
        work = os.path.realpath(workdir)
        if not os.path.isdir(work):
            raise FileNotFoundError(f"work folder {workdir} is not a folder")
        hidden = _existing(hide)
        if "/" in hidden:
            raise ValueError("cannot hide the whole file system ('/')")
        # Inside the private /tmp, or inside another hidden folder, a path is out of sight
        # already (and its mount point would not exist in the empty tmpfs).
        covers = ["/tmp", *[h for h in hidden if os.path.isdir(h)]]
        hidden = [
            h
            for h in hidden
            if not any(h != c and h.startswith(os.path.join(c, "")) for c in covers) and h != "/tmp"
        ]
        # The program itself must stay visible: a venv under /tmp (a checkout there) would
        # vanish under the private /tmp, so its environment is revealed again.
        program = os.path.abspath(str(argv[0]))
        if program.startswith("/tmp/"):
            env_root = os.path.dirname(os.path.dirname(program))  # .../venv/bin/python
            reveal = [*reveal, env_root if env_root != "/tmp" else os.path.dirname(program)]
        revealed = _existing(reveal)

        cmd = [
            self.binary,
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--size",
            str(self.tmpfs_bytes),
            "--tmpfs",
            "/tmp",
            "--size",
            str(self.tmpfs_bytes),
            "--tmpfs",
            "/dev/shm",
        ]
        hidden_dirs = []
        for path in hidden:
            if os.path.isdir(path):
                cmd += ["--tmpfs", path]
                hidden_dirs.append(path)
            else:  # a file (or socket, fifo, ...): /dev/null reads empty, swallows writes
                cmd += ["--dev-bind", "/dev/null", path]
        for path in revealed:
            cmd += ["--ro-bind", path, path]
        cmd += ["--bind", work, work]
        # An empty hidden folder must not become a scratch area either. Mount
        # points for the binds above were created in it already; a remount does
        # not reach the mounts on top of it, except one at the very same path.
        on_top = set(revealed) | {work}
        for path in hidden_dirs:
            if path not in on_top:
                cmd += ["--remount-ro", path]
        cmd += [
            *self.namespaces,
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--new-session",
            "--chdir",
            work,
            "--",
            *map(str, argv),
        ]
        return cmd

    def describe(
        self, *, hide: Sequence[str | Path] = (), reveal: Sequence[str | Path] = ()
    ) -> str:
        """``detail``, naming the paths that :meth:`wrap` with these arguments hides and reveals."""
        if self.kind != "bubblewrap":
            return self.detail
        hidden, revealed = _existing(hide), _existing(reveal)
        what = f"hidden: {', '.join(hidden)}" if hidden else "nothing hidden"
        if revealed:
            what += f" (revealed again: {', '.join(revealed)})"
        return self.detail.replace(_HIDDEN_PLACEHOLDER, what)


_HIDDEN_PLACEHOLDER = "hidden paths emptied"


def _existing(paths: Sequence[str | Path]) -> list[str]:
    """Real paths of those of ``paths`` that exist, in order, without repeats."""
    out: list[str] = []
    for p in paths:
        real = os.path.realpath(p)
        if os.path.lexists(real) and real not in out:
            out.append(real)
    return out


def _bubblewrap_detail(
    version: str, namespaces: tuple[str, ...], tmpfs_bytes: int, userns_problem: str = ""
) -> str:
    extra = ", no new user namespaces" if "--disable-userns" in namespaces else ""
    line = (
        f"{version}: no network, read-only file system except the work folder, "
        f"private /tmp and /dev/shm ({tmpfs_bytes // 2**20} MiB each), {_HIDDEN_PLACEHOLDER}; "
        f"own session, own PID namespace, no capabilities{extra}, dies with its parent"
    )
    if userns_problem:
        line += f" (new user namespaces not blocked: {userns_problem})"
    return line


# ---------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------

_cache: dict[str, Isolation | str] = {}  # binary -> working Isolation, or why it does not work
_lock = threading.Lock()


def detect(mode: str | None = None) -> Isolation:
    """The isolation to use; ``mode`` defaults to ``$RNN_GRADE_ISOLATION``, else ``"auto"``.

    - ``"auto"``: bubblewrap when its binary is found (``$RNN_GRADE_BWRAP``, else
      ``bwrap`` on PATH, else ``/usr/bin/bwrap``) and a trial run of a wrapped
      ``true`` (with a hidden folder, a hidden file and a work folder) exits 0
      within a few seconds; otherwise kind ``"none"`` with the reason in ``detail``.
    - ``"bubblewrap"``: the same, but raise :class:`RuntimeError` with the reason
      when bubblewrap does not work.
    - ``"none"``: no OS isolation, because it was asked for.

    The trial's outcome is cached per binary for the life of the process.
    """
    chosen = (os.environ.get(MODE_ENV, "") if mode is None else mode).strip().lower() or "auto"
    if chosen not in MODES:
        raise ValueError(
            f"isolation mode {chosen!r} is not one of {', '.join(MODES)} (argument or ${MODE_ENV})"
        )
    if chosen == "none":
        source = "asked for" if mode is not None else f"{MODE_ENV}=none"
        return Isolation("none", f"none: no OS isolation ({source}); the in-process guard only")
    found = _bubblewrap()
    if isinstance(found, Isolation):
        return found
    if chosen == "bubblewrap":
        raise RuntimeError(f"bubblewrap isolation was asked for but does not work: {found}")
    return Isolation("none", f"none: bubblewrap unavailable ({found}); the in-process guard only")


def _find_binary() -> tuple[str | None, str]:
    """(path of bwrap, "") or (None, why not)."""
    override = os.environ.get(BINARY_ENV)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return os.path.abspath(override), ""
        return None, f"{BINARY_ENV}={override} is not an executable file"
    on_path = shutil.which("bwrap")
    if on_path:
        return on_path, ""
    if os.path.isfile(DEFAULT_BINARY) and os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY, ""
    return None, (
        f"no bwrap on PATH nor at {DEFAULT_BINARY}; install bubblewrap "
        f"(apt-get install bubblewrap) or set {BINARY_ENV}"
    )


def _bubblewrap() -> Isolation | str:
    binary, why = _find_binary()
    if binary is None:
        return why
    with _lock:
        if binary not in _cache:
            _cache[binary] = _trial(binary)
        return _cache[binary]


def _trial(binary: str) -> Isolation | str:
    """Run a wrapped ``true`` with each namespace choice; the first that works, or why none did."""
    version = _version(binary)
    true = shutil.which("true") or "/bin/true"
    failures = []
    with tempfile.TemporaryDirectory(prefix="rnn-isolation-trial-") as tmp:
        work, folder, file = Path(tmp, "work"), Path(tmp, "hidden"), Path(tmp, "hidden.txt")
        work.mkdir()
        folder.mkdir()
        file.write_text("secret\n")
        for namespaces in _NAMESPACE_CHOICES:
            iso = Isolation("bubblewrap", "", binary=binary, namespaces=namespaces)
            problem = _run_trial(iso.wrap([true], workdir=work, hide=[folder, file]))
            if not problem:
                userns = failures[0] if failures else ""
                return Isolation(
                    "bubblewrap",
                    _bubblewrap_detail(version, namespaces, TMPFS_BYTES, userns),
                    binary=binary,
                    namespaces=namespaces,
                )
            failures.append(problem)
    reason = f"{binary} ({version}) does not start a sandbox: {failures[-1]}"
    if failures[0] != failures[-1]:
        reason += f"; with a user namespace: {failures[0]}"
    return reason + _userns_hint(" ".join(failures))


def _run_trial(cmd: list[str]) -> str:
    """ "" when ``cmd`` exits 0 in time, else a one-line description of what went wrong."""
    try:
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TRIAL_SECONDS
        )
    except subprocess.TimeoutExpired:
        return f"the trial run took more than {TRIAL_SECONDS:g} s"
    except OSError as exc:
        return f"cannot execute it: {exc}"
    if done.returncode == 0:
        return ""
    said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
    return f"exit status {done.returncode}: {said[-1] if said else 'no message'}"


def _version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TRIAL_SECONDS,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out.splitlines()[0] if out else "bubblewrap (version unknown)"


_USERNS_WORDS = (
    "namespace",
    "uid map",
    "uid_map",
    "setgroups",
    "operation not permitted",
    "permission denied",
    "no space left",
)


def _userns_hint(message: str) -> str:
    """Why user namespaces might be off here, from the kernel's switches, when the message hints at it."""
    if not any(word in message.lower() for word in _USERNS_WORDS):
        return ""
    switches = []
    for name, bad in (
        ("user/max_user_namespaces", "0"),
        ("kernel/unprivileged_userns_clone", "0"),
        ("kernel/apparmor_restrict_unprivileged_userns", "1"),
    ):
        try:
            value = Path("/proc/sys", name).read_text().strip()
        except OSError:
            continue
        if value == bad:
            switches.append(f"{name.replace('/', '.')}={value}")
    hint = "; user namespaces look switched off"
    if switches:
        return f"{hint} ({', '.join(switches)})"
    return (
        f"{hint} or forbidden (a container's seccomp or AppArmor profile can forbid them; "
        f"allow them to the grader, or set {MODE_ENV}=none to grade without OS isolation)"
    )
