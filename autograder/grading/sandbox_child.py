"""The isolated runner's child: runs a student's notebook as written, sends back plain data.

Started by :mod:`autograder.grading.sandbox` as ``python -I sandbox_child.py
WORKDIR`` inside the OS sandbox (bubblewrap, see :mod:`.isolation`) where one
is available, in a fresh process group, with ``WORKDIR/job.json`` describing
the work. This file is a standalone script: it must not import the course
package (which is hidden, and stubbed below). It loads the course's calling
runtime from ``WORKDIR/lib/course_calling.py``, the same file the notebook's
checks use as ``autograder.calling``, so a student's function is called,
watched and described exactly as in the notebook.

Order of events:

1. resource limits (address space, CPU seconds, file size, no core files)
   are set, before any student code exists in the process;
2. ``autograder`` is replaced by stubs: the notebook's imports cell runs, and
   a check called from a student's scratch cell fails that cell only;
3. the libraries the notebook imports (NumPy, torch, ...) are imported before
   the audit hook, so their own start-up is not refused;
4. a guard that cannot be removed (an audit hook) refuses process creation,
   signals, ctypes, writes outside the work folder and reads of the course's
   private folders. It is the only guard where no OS sandbox is available,
   and a second line inside one;
5. every code cell of the notebook runs in order with plain ``exec`` (no
   IPython: input transformers and custom exception handlers do nothing;
   IPython magics are skipped), each under a time limit; a cell that fails
   does not stop the next. Where a part's test cell stood, its function is
   called on each case's inputs, under the part's :class:`Guard`;
6. each outcome (value, error, or broken rule) is written with
   ``allow_pickle=False`` and a JSON line. Nothing else leaves the process.

Everything this process writes is untrusted: the grader checks it.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import resource
import signal
import sys
import types

WORKDIR = os.path.realpath(sys.argv[1])
with open(os.path.join(WORKDIR, "job.json")) as fh:
    JOB = json.load(fh)

# 1. limits first.
_mem = int(JOB["mem_bytes"])
resource.setrlimit(resource.RLIMIT_AS, (_mem, _mem))
_cpu = int(JOB["cpu_seconds"])
resource.setrlimit(resource.RLIMIT_CPU, (_cpu, _cpu + 1))
_fsize = int(JOB.get("file_bytes", 256 * 2**20))
resource.setrlimit(resource.RLIMIT_FSIZE, (_fsize, _fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

OUT = os.path.join(WORKDIR, "out")
IN = os.path.join(WORKDIR, "in")


# 2. the course package is not here: stubs that say so.
class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def unavailable(*args, **kwargs):
            raise RuntimeError(
                f"{self.__name__}.{name} is not available while grading: the "
                "grader calls your functions itself"
            )

        unavailable.__name__ = name
        return unavailable


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] == "autograder":
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _StubFinder())

_CALLING_FILE = os.path.join(WORKDIR, "lib", "course_calling.py")
_spec = importlib.util.spec_from_file_location("course_calling", _CALLING_FILE)
calling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calling)

# 3. what the notebook imports, imported now (outside the time limits and the guard).
for _name in JOB.get("preload", ()):
    try:
        __import__(_name)
    except BaseException:
        pass
for _name in [m for m in sys.modules if m.split(".")[0] in ("ctypes", "_ctypes")]:
    if "torch" not in sys.modules:
        del sys.modules[_name]  # so that `import ctypes` goes through the audit hook

_BLOCKED_IMPORTS = frozenset(JOB["blocked_imports"])
_PRIVATE = tuple(os.path.join(p, "") for p in JOB["private_dirs"])
_WRITABLE = os.path.join(WORKDIR, "")
_BLOCKED_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.kill",
        "os.killpg",
        "subprocess.Popen",
        "pty.spawn",
        "socket.connect",
        "socket.bind",
        "os.add_dll_directory",
        "sys.setprofile",
        "sys.settrace",
        "os.chmod",
        "os.chown",
        "shutil.chown",
        "os.truncate",
        "os.setxattr",
        "os.removexattr",
        "os.link",
        "os.symlink",
        "os.rename",
        "os.remove",
        "os.rmdir",
        "os.mkdir",
        "os.utime",
        "shutil.rmtree",
        "shutil.copyfile",
        "shutil.move",
        "resource.setrlimit",
        "resource.prlimit",
        "signal.pthread_kill",
        "sys.addaudithook",
        "_thread.start_new_thread",  # a thread would run outside the part's guard
    }
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_realpath = os.path.realpath
_str = str
_isinstance = isinstance
_PROFILING = [False]  # set by this harness only, around its own Guard
_CELL_ERRORS = {}  # cell label -> the error it ended with


class SandboxViolation(BaseException):
    """Raised by the audit hook; a BaseException so that `except Exception` cannot eat it."""


def _path_args(event, args):
    if event == "open":
        return [args[0]]
    if event in ("os.rename", "os.link", "os.symlink", "shutil.move", "shutil.copyfile"):
        return list(args[:2])
    if args:
        return [args[0]]
    return []


def _audit(event, args):
    if event == "import":
        top = _str(args[0]).split(".")[0]
        if top in _BLOCKED_IMPORTS:
            raise SandboxViolation(f"import of {args[0]!r} is not allowed in graded code")
        return
    if (
        event in ("sys.setprofile", "sys.settrace")
        and _PROFILING[0]
        and sys._getframe(1).f_code.co_filename == _CALLING_FILE
    ):
        return  # the calling runtime's own Guard, around a call of a graded function
    if event.startswith("ctypes.") or event in _BLOCKED_EVENTS:
        if event.startswith("os.") and event in (
            "os.mkdir",
            "os.remove",
            "os.rmdir",
            "os.rename",
            "os.utime",
            "os.chmod",
            "os.truncate",
        ):
            for p in _path_args(event, args):
                if _isinstance(p, (str, bytes)) and _str(_realpath(p)).startswith(_WRITABLE):
                    continue
                raise SandboxViolation(f"{event} outside the work folder is not allowed")
            return
        raise SandboxViolation(f"{event} is not allowed in graded code")
    if event == "open":
        path, mode, flags = args
        if not _isinstance(path, (str, bytes)):
            return
        real = _str(_realpath(path if _isinstance(path, str) else path.decode(errors="replace")))
        if real.startswith(_PRIVATE):
            raise SandboxViolation("reading the course's private files is not allowed")
        writing = (mode is not None and any(c in _str(mode) for c in "wax+")) or (
            mode is None and _isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing and not real.startswith(_WRITABLE):
            raise SandboxViolation("writing outside the work folder is not allowed")


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


_json_dumps = json.dumps
_open = open
_set_timer = signal.setitimer
_signal = signal.signal
_encode = calling.encode
_decode = calling.decode
_call = calling.call
_Outcome = calling.Outcome


def _record(entry):
    with _open(os.path.join(OUT, "status.jsonl"), "a") as fh:
        fh.write(_json_dumps(entry) + "\n")


def _describe(exc):
    try:
        return f"{type(exc).__name__}: {_str(exc)[:400]}"
    except BaseException:  # a hostile __str__
        return "an exception that cannot be displayed"


def _run_limited(seconds, fn, *args):
    _signal(signal.SIGALRM, _alarm)
    _set_timer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        _set_timer(signal.ITIMER_REAL, 0)


def _exec_cell(source, label, namespace):
    code = compile(calling.without_magics(source), f"<cell {label}>", "exec")
    exec(code, namespace)


def _call_part(part, namespace):
    gid = part["grade_id"]
    for index, case in enumerate(part["cases"]):
        entry = {"grade_id": gid, "case": index}
        try:
            fn = namespace.get(part["function"])
            if fn is None:
                why = _CELL_ERRORS.get(gid)
                why = (
                    f"its cell failed with {why}"
                    if why
                    else "its cell did not define it, or it has another name"
                )
                outcome = _Outcome(error=f"NameError: `{part['function']}` is not defined ({why})")
            else:
                args = {name: _decode(desc, IN) for name, desc in case}
                _PROFILING[0] = True
                try:
                    outcome = _run_limited(
                        float(part["call_seconds"]),
                        lambda: _call(
                            fn,
                            args,
                            allowed=tuple(part["allowed"]),
                            forbidden=tuple(part["forbidden"]),
                            count_lines=bool(part.get("count_lines")),
                        ),
                    )
                finally:
                    _PROFILING[0] = False
            entry["outcome"] = outcome.to_json()
            entry["value"] = _encode(outcome.value, OUT, f"{gid}.{index}")
        except _Timeout:
            entry["outcome"] = {"stopped": f"the call took longer than {part['call_seconds']} s"}
        except SandboxViolation as exc:
            entry["outcome"] = {"stopped": f"the grader refused it: {_describe(exc)}"}
            entry["violation"] = True
        except MemoryError:
            entry["outcome"] = {"stopped": "the call ran out of memory"}
        except BaseException as exc:  # SystemExit and friends
            entry["outcome"] = {"error": _describe(exc)}
        _record(entry)


def main():
    os.makedirs(OUT, exist_ok=True)

    def display(*objects, **kwargs):  # the notebook's display(), printed
        print(*objects)

    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "display": display}
    parts = {p["grade_id"]: p for p in JOB["parts"]}
    sys.addaudithook(_audit)

    def _no_exit(*args, **kwargs):
        raise SandboxViolation("os._exit is not allowed in graded code")

    import posix

    os._exit = posix._exit = _no_exit  # the harness itself never needs them
    for cell in JOB["cells"]:
        label = cell["label"]
        if label in JOB.get("skip_cells", ()):
            continue
        _record({"begin": label})
        if cell.get("calls"):
            gid = cell["calls"]
            if gid in parts and gid not in JOB.get("done_parts", ()):
                _call_part(parts[gid], namespace)
            _record({"end": label})
            continue
        entry = {"cell": label}
        try:
            _run_limited(float(JOB["cell_seconds"]), _exec_cell, cell["source"], label, namespace)
            entry["ok"] = True
        except _Timeout:
            entry.update(ok=False, error=f"the cell ran longer than {JOB['cell_seconds']} s")
        except SandboxViolation as exc:
            entry.update(ok=False, error=f"refused: {_describe(exc)}", violation=True)
        except MemoryError:
            entry.update(ok=False, error="the cell ran out of memory")
        except BaseException as exc:
            entry.update(ok=False, error=_describe(exc))
        if not entry["ok"]:
            _CELL_ERRORS[label] = entry["error"]
        _record(entry)
        _record({"end": label})
    _record({"done": True})


main()
