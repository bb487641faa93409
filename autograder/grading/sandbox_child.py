"""The isolated runner's child: executes a student's answer cells, sends back plain data.

Started by :mod:`autograder.grading.sandbox` as ``python -I -S sandbox_child.py WORKDIR``
(no site-packages, no user site, no PYTHON* variables), in a fresh process group,
with ``WORKDIR/job.json`` describing the work. This file is a standalone script: it
must not import the course package (which the audit hook below refuses anyway).

Order of events:

1. resource limits (address space, CPU seconds, file size) are set, before any
   student code exists in the process;
2. NumPy is imported from a folder holding only NumPy (``sys.path`` has no
   site-packages, so ``torch`` and ``autograder`` are not importable);
3. an audit hook that cannot be removed refuses imports of the reference
   libraries (torch, the course package, ctypes, IPython, ...), every ctypes
   call, process creation and signals to other processes, reads of the course's
   private folders and writes outside the work folder;
4. the setup cell from the SOURCE notebook runs (course imports removed), then,
   in notebook order, each answer cell runs with plain ``exec`` (no IPython: input
   transformers and custom exception handlers do nothing), and right after a
   part's cell, its function is called on the inputs the grader wrote;
5. each result is written as ``.npy`` with ``allow_pickle=False`` and only when it
   is exactly a ``numpy.ndarray`` of a numeric dtype or exactly an ``int`` (sent
   as a 0-d int64 array). Nothing else leaves the process.

Everything this process writes is untrusted: the grader loads it with
``allow_pickle=False`` and checks type, dtype, shape and values itself.
"""
import json
import os
import resource
import signal
import sys

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

# 2. NumPy only.
sys.path.append(JOB["numpy_dir"])
import numpy as np  # noqa: E402

for _name in [m for m in sys.modules if m.split(".")[0] in ("ctypes", "_ctypes")]:
    del sys.modules[_name]   # so that `import ctypes` goes through the audit hook

OUT = os.path.join(WORKDIR, "out")
_BLOCKED_IMPORTS = frozenset(JOB["blocked_imports"])
_PRIVATE = tuple(os.path.join(p, "") for p in JOB["private_dirs"])
_WRITABLE = os.path.join(WORKDIR, "")
_BLOCKED_EVENTS = frozenset({
    "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
    "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn", "socket.connect",
    "socket.bind", "os.add_dll_directory", "sys.setprofile", "sys.settrace",
    "os.chmod", "os.chown", "shutil.chown", "os.truncate", "os.setxattr", "os.removexattr",
    "os.link", "os.symlink", "os.rename", "os.remove", "os.rmdir", "os.mkdir",
    "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move", "resource.setrlimit",
    "resource.prlimit", "signal.pthread_kill", "sys.addaudithook",
})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_realpath = os.path.realpath
_str = str
_isinstance = isinstance


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
    if event.startswith("ctypes.") or event in _BLOCKED_EVENTS:
        if event.startswith("os.") and event in ("os.mkdir", "os.remove", "os.rmdir", "os.rename",
                                                 "os.utime", "os.chmod", "os.truncate"):
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
        writing = (mode is not None and any(c in _str(mode) for c in "wax+")) or \
                  (mode is None and _isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and not real.startswith(_WRITABLE):
            raise SandboxViolation("writing outside the work folder is not allowed")


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


_save = np.save
_load = np.load
_ndarray = np.ndarray
_int = int
_type = type
_json_dumps = json.dumps
_open = open
_set_timer = signal.setitimer
_signal = signal.signal
_int64 = np.int64
_asarray = np.asarray


def _record(entry):
    with _open(os.path.join(OUT, "status.jsonl"), "a") as fh:
        fh.write(_json_dumps(entry) + "\n")


def _describe(exc):
    try:
        return f"{_type(exc).__name__}: {_str(exc)[:400]}"
    except BaseException:  # a hostile __str__
        return "an exception that cannot be displayed"


def _run_limited(seconds, fn, *args):
    _signal(signal.SIGALRM, _alarm)
    _set_timer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        _set_timer(signal.ITIMER_REAL, 0)


def _exec_cell(source, gid, namespace):
    code = compile(source, f"<answer cell {gid}>", "exec")
    exec(code, namespace)


def _call_part(part, namespace):
    gid = part["grade_id"]
    for index, case in enumerate(part["cases"]):
        entry = {"grade_id": gid, "case": index}
        try:
            fn = namespace.get(part["function"])
            if fn is None:
                raise NameError(f"`{part['function']}` is not defined")
            kwargs = {}
            for name, kind, filename in case["args"]:
                value = _load(os.path.join(WORKDIR, "in", filename), allow_pickle=False)
                kwargs[name] = _int(value) if kind == "int" else value
            result = _run_limited(float(JOB["call_seconds"]), lambda: fn(**kwargs))
            kind = _type(result)
            if kind is _ndarray and result.dtype.kind in "biuf":
                _save(os.path.join(OUT, f"{gid}.{index}.npy"), result, allow_pickle=False)
                entry["ok"] = True
            elif kind is _int:
                _save(os.path.join(OUT, f"{gid}.{index}.npy"), _asarray(result, dtype=_int64),
                      allow_pickle=False)
                entry["ok"] = True
            else:
                try:
                    what = f"{kind.__module__}.{kind.__qualname__}"
                    if kind is _ndarray:
                        what += f" of dtype {result.dtype}"
                except BaseException:
                    what = "an object of unknown type"
                entry.update(ok=False, error=f"returned {_str(what)[:200]}")
        except _Timeout:
            entry.update(ok=False, error=f"took longer than {JOB['call_seconds']} s")
        except SandboxViolation as exc:
            entry.update(ok=False, error=f"refused: {_describe(exc)}", violation=True)
        except MemoryError:
            entry.update(ok=False, error="ran out of memory")
        except BaseException as exc:  # the student's crash, SystemExit included
            entry.update(ok=False, error=_describe(exc))
        _record(entry)


def main():
    os.makedirs(OUT, exist_ok=True)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(JOB["setup"], "<setup cell>", "exec"), namespace)
    parts = {p["grade_id"]: p for p in JOB["parts"]}
    sys.addaudithook(_audit)

    def _no_exit(*args, **kwargs):
        raise SandboxViolation("os._exit is not allowed in graded code")
    import posix
    os._exit = posix._exit = _no_exit   # the harness itself never needs them
    for cell in JOB["cells"]:
        gid = cell["grade_id"]
        if gid in JOB.get("skip_cells", ()):
            continue
        _record({"begin": gid})
        entry = {"cell": gid}
        try:
            _run_limited(float(JOB["cell_seconds"]), _exec_cell, cell["source"], gid, namespace)
            entry["ok"] = True
        except _Timeout:
            entry.update(ok=False, error=f"the cell ran longer than {JOB['cell_seconds']} s")
        except SandboxViolation as exc:
            entry.update(ok=False, error=f"refused: {_describe(exc)}", violation=True)
        except MemoryError:
            entry.update(ok=False, error="the cell ran out of memory")
        except BaseException as exc:
            entry.update(ok=False, error=_describe(exc))
        _record(entry)
        if gid in parts and gid not in JOB.get("done_parts", ()):
            _call_part(parts[gid], namespace)
        _record({"end": gid})
    _record({"done": True})


main()
