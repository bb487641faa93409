"""Calling a student's function: one runtime for the notebook's check and for the isolated grader.

This module is deliberately standalone (the standard library and NumPy only, no
import of the course package): the in-kernel checks import it as
``autograder.calling``, and the isolated grader's sandbox loads the very same
file by path, so a student's answer is called, watched and described by the
same code in both places, and the two give the same messages.

* :func:`call` calls ``fn(**args)`` on private copies of the inputs, under a
  :class:`Guard` that watches which libraries the call uses, and returns an
  :class:`Outcome` (the value, or the error, or the rule it broke).
* :class:`Guard` is a profiler hook (``sys.setprofile``) active only while the
  student's function runs. It records the first call into a library the part
  does not allow (for example ``torch`` in a part that is to be written with
  NumPy only), into the course's own package, or into a module the exercise
  asks you to build (``torch.nn.RNNCell`` for ``rnn_step``, and so on).
  It is a referee for honest mistakes, not a sandbox: the isolated grader's
  sandbox is what keeps hostile code away from the grades.
* :func:`plain` reduces a returned value to plain data: exact NumPy arrays,
  ``int``, ``float``, ``bool``, ``None``, tuples of those, or a :class:`Foreign`
  that names the type that arrived (a torch tensor, a list, a subclass ...).
* :func:`encode` / :func:`decode` carry plain data across the sandbox's wall
  as ``.npy`` files (``allow_pickle=False``) and a JSON descriptor.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import numpy as np

__all__ = [
    "Foreign",
    "Outcome",
    "Guard",
    "call",
    "plain",
    "encode",
    "decode",
    "describe_value",
    "referenced_functions",
    "ListOf",
    "NOT_IMPLEMENTED",
]

NOT_IMPLEMENTED = "not implemented"
_STDLIB_CACHE: dict[str, bool] = {}

_STDLIB_DIRS = tuple({os.path.dirname(os.__file__), os.path.dirname(os.path.realpath(os.__file__))})
_SELF = __file__


class ListOf(tuple):
    """A list returned inside a tuple (say, clipped gradients): it counts as a tuple of its
    items where a tuple of arrays is asked, and is named a list where one array is asked."""

    __slots__ = ()


class Foreign:
    """A returned value that is not plain data: only its type's name crosses the wall."""

    def __init__(self, module: str, qualname: str, note: str = ""):
        self.module, self.qualname, self.note = module, qualname, note

    @property
    def type_name(self) -> str:
        return f"{self.module}.{self.qualname}" if self.module else self.qualname

    def __repr__(self) -> str:
        return f"Foreign({self.type_name!r}{', ' + repr(self.note) if self.note else ''})"

    def __eq__(self, other):
        return isinstance(other, Foreign) and (self.module, self.qualname, self.note) == (
            other.module,
            other.qualname,
            other.note,
        )

    __hash__ = None


_NUMPY_SCALARS = frozenset(
    {
        np.float64,
        np.float32,
        np.float16,
        np.int64,
        np.int32,
        np.int16,
        np.int8,
        np.uint64,
        np.uint32,
        np.uint16,
        np.uint8,
        np.bool_,
    }
)


def _type_of(obj) -> tuple[str, str]:
    try:
        kind = type(obj)
        return str(kind.__module__), str(kind.__qualname__)
    except BaseException:  # a hostile class
        return "", "object of unknown type"


def plain(obj, depth: int = 0):
    """``obj`` as plain data, or a :class:`Foreign` naming what it was.

    Exact types only: a subclass of ``numpy.ndarray`` or of ``int`` (``bool``
    excepted, which is its own kind), or an object that claims to be equal to
    anything, becomes a :class:`Foreign`. A NumPy scalar becomes a 0-d array (its
    dtype kept); a list inside a returned tuple becomes a :class:`ListOf`.
    """
    kind = type(obj)
    if kind is np.ndarray:
        if obj.dtype.kind in "biuf" and not obj.dtype.hasobject:
            return obj
        return Foreign("numpy", "ndarray", f"dtype {obj.dtype}")
    if kind in (int, float, bool, str) or obj is None:
        return obj
    if kind in _NUMPY_SCALARS:
        # A NumPy scalar (np.float64, np.int64, np.bool_, ...) crosses as a 0-d array: its
        # value and its dtype, which the judge needs (float32 is refused, float64 is not).
        return np.asarray(obj)
    if isinstance(obj, tuple) and kind is not ListOf and depth <= 1:
        # A namedtuple is a tuple too. Its items are read through tuple's own slot access, so
        # a subclass that overrides __iter__, __len__ or __getitem__ cannot lie about them.
        items = tuple.__getitem__(obj, slice(None))
        if len(items) <= 64:
            return tuple(plain(item, depth + 1) for item in items)
    if kind is list and depth == 1 and len(obj) <= 64:
        return ListOf(plain(item, depth + 1) for item in obj)
    module, qualname = _type_of(obj)
    note = ""
    if module.split(".")[0] == "torch":
        note = "a torch tensor" if qualname in ("Tensor", "Parameter") else "a torch object"
    elif kind in (list, tuple):
        note = f"a {kind.__name__} of length {len(obj)}"
    elif isinstance(obj, np.ndarray):
        note = "a subclass of numpy.ndarray"
    return Foreign(module, qualname, note)


def describe_value(value) -> str:
    """``float64 array of shape (3, 4)``, ``int 7``, ``torch.Tensor`` ... for messages."""
    if type(value) is np.ndarray:
        if value.ndim == 0:
            return f"a NumPy {value.dtype} scalar ({value.item()!r})"
        return f"{value.dtype} array of shape {value.shape}"
    if isinstance(value, Foreign):
        return value.type_name + (f" ({value.note})" if value.note else "")
    if type(value) is ListOf:
        return "list [" + ", ".join(describe_value(v) for v in value) + "]"
    if type(value) is tuple:
        return "tuple (" + ", ".join(describe_value(v) for v in value) + ")"
    if value is None:
        return "None"
    return f"{type(value).__name__} {value!r}"


# ----------------------------------------------------------------------------- the guard


def _package_dirs() -> tuple[str, ...]:
    dirs = set()
    for entry in sys.path:
        if entry and os.path.basename(entry.rstrip(os.sep)) in ("site-packages", "dist-packages"):
            dirs.add(os.path.join(os.path.realpath(entry), ""))
    return tuple(sorted(dirs))


#: Libraries that can compute an exercise's answer. A part allows some of them
#: (``allowed``); calling any other one from graded code breaks the part's rule.
#: Everything else (the standard library, the notebook's own machinery such as
#: ipykernel behind ``print``, a progress bar) is not the guard's business.
NUMERIC_LIBRARIES = frozenset(
    {
        "numpy",
        "torch",
        "torchvision",
        "torchaudio",
        "functorch",
        "triton",
        "scipy",
        "sklearn",
        "jax",
        "jaxlib",
        "flax",
        "optax",
        "tensorflow",
        "keras",
        "numba",
        "cupy",
        "autograd",
        "mxnet",
        "paddle",
        "theano",
        "tinygrad",
        "sympy",
        "numexpr",
        "opt_einsum",
        "einops",
        "pandas",
        "statsmodels",
    }
)


class Guard:
    """Watch one call of a student's function; remember the first rule it breaks.

    ``allowed``: the numerical libraries (:data:`NUMERIC_LIBRARIES`) the
    function may call, e.g. ``("numpy",)``; the others are refused.
    ``forbidden``: dotted names of things the exercise asks you to build
    (``"torch.nn.RNNCell"``, ``"torch.nn.utils.clip_grad_norm_"``): calling
    them breaks the rule even where their library is allowed.
    ``course_dirs``: folders of the course's own package (its references).
    """

    def __init__(self, allowed=("numpy",), forbidden=(), course_dirs=()):
        self.allowed = frozenset(allowed) | {"numpy"}
        self.refused = NUMERIC_LIBRARIES - self.allowed
        self.forbidden = tuple(forbidden)
        self.course_dirs = tuple(os.path.join(os.path.realpath(d), "") for d in course_dirs)
        self.packages = _package_dirs()
        self.violation: str | None = None
        self._codes: dict = {}
        self._builtins: dict = {}
        self._top_cache: dict = {}

    # -- what a code object or a builtin belongs to
    def _package_of_file(self, filename: str):
        cached = self._top_cache.get(filename)
        if cached is not None:
            return cached
        result = ""
        # Both sides resolved: a venv reached through a symbolic link (or macOS's /tmp) gives
        # code filenames under the link, while the folders are compared resolved.
        real = os.path.realpath(filename) if filename and filename[0] != "<" else filename
        for folder in self.course_dirs:
            if real.startswith(folder):
                result = "<course>"
                break
        else:
            for folder in self.packages:
                if real.startswith(folder):
                    result = real[len(folder) :].split(os.sep, 1)[0].split(".", 1)[0]
                    break
        self._top_cache[filename] = result
        return result

    def _package_of_module(self, module) -> str:
        if not isinstance(module, str) or not module:
            return ""
        top = module.split(".")[0]
        cached = self._top_cache.get(("m", top))
        if cached is not None:
            return cached
        mod = sys.modules.get(top)
        path = getattr(mod, "__file__", None) if mod is not None else None
        result = self._package_of_file(path) if isinstance(path, str) else ""
        if result and result != "<course>":
            result = top
        self._top_cache[("m", top)] = result
        return result

    def _resolve_forbidden(self) -> None:
        import inspect

        for dotted in self.forbidden:
            top, *rest = dotted.split(".")
            obj = sys.modules.get(top)
            if obj is None:
                continue  # never imported: it cannot be called either
            try:
                for name in rest:
                    obj = getattr(obj, name)
            except AttributeError:
                continue
            if isinstance(obj, type):
                for attr in vars(obj).values():
                    fn = getattr(attr, "__func__", attr)
                    code = getattr(inspect.unwrap(fn), "__code__", None) if callable(fn) else None
                    if code is not None:
                        self._codes[code] = dotted
            else:
                code = getattr(inspect.unwrap(obj), "__code__", None)
                if code is not None:
                    self._codes[code] = dotted
                else:
                    self._builtins[id(obj)] = dotted

    @staticmethod
    def _is_stdlib(filename: str) -> bool:
        cached = _STDLIB_CACHE.get(filename)
        if cached is None:
            real = os.path.realpath(filename) if filename and filename[0] != "<" else filename
            cached = filename.startswith("<frozen") or any(
                name.startswith(os.path.join(d, "")) and "site-packages" not in name
                for d in _STDLIB_DIRS
                for name in (filename, real)
            )
            _STDLIB_CACHE[filename] = cached
        return cached

    def _outside(self, package: str, caller) -> bool:
        """A call into ``package`` made by the student's code, not from inside a library.

        ``caller`` is the frame that made the call; frames of the standard library
        (functools, importlib, ...) are looked through, so a library's own lazy
        import or callback does not count, while the student's does.
        """
        if not package or (package != "<course>" and package not in self.refused):
            return False
        while caller is not None and self._is_stdlib(caller.f_code.co_filename):
            caller = caller.f_back
        if caller is None:
            return True
        return self._package_of_file(caller.f_code.co_filename) == ""

    def _note(self, what: str) -> None:
        if self.violation is None:
            self.violation = what

    def _hook(self, frame, event, arg):
        if self.violation is not None:
            return
        if event == "call":
            code = frame.f_code
            if code in self._codes:
                self._note(f"it calls {self._codes[code]}")
                return
            package = self._package_of_file(code.co_filename)
            if package:
                back = frame.f_back
                if self._outside(package, back):
                    where = frame.f_globals.get("__name__", package)
                    self._note(self._library_text(package, f"{where}.{code.co_qualname}"))
        elif event == "c_call":
            dotted = self._builtins.get(id(arg))
            if dotted is not None:
                self._note(f"it calls {dotted}")
                return
            module = getattr(arg, "__module__", None)
            name = getattr(arg, "__name__", "")
            if module is None:
                owner = getattr(arg, "__self__", None)
                module = type(owner).__module__ if owner is not None else None
                name = getattr(arg, "__qualname__", name)
            package = self._package_of_module(module)
            if package and self._outside(package, frame):
                self._note(self._library_text(package, f"{module}.{name}"))

    @staticmethod
    def _library_text(package: str, what: str) -> str:
        if package == "<course>":
            return "it calls the course's own code (autograder), which computes the reference"
        return f"it uses {package} ({what})" if what else f"it uses {package}"

    def __enter__(self):
        self._resolve_forbidden()
        self._previous = sys.getprofile()
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        return False


# ----------------------------------------------------------------------------- one call


class Outcome:
    """What one call of a student's function gave: ``value`` (plain) or ``error`` or ``violation``."""

    def __init__(
        self,
        value=None,
        error: str | None = None,
        violation: str | None = None,
        mutated: str | None = None,
        seconds: float = 0.0,
        stopped: str | None = None,
        lines: int | None = None,
        unbound: str | None = None,
        uses: tuple[str, ...] = (),
    ):
        self.value, self.error, self.violation = value, error, violation
        self.mutated, self.seconds = mutated, seconds
        self.stopped = stopped  # the grader stopped the call (time, memory, a dead process)
        self.lines = lines  # lines of the student's own code executed (when counted)
        self.unbound = unbound  # the arguments did not fit the function's parameters: why
        self.uses = tuple(uses)  # names of the notebook's functions the function calls

    def to_json(self) -> dict:
        return {
            "error": self.error,
            "violation": self.violation,
            "mutated": self.mutated,
            "seconds": self.seconds,
            "stopped": self.stopped,
            "lines": self.lines,
            "unbound": self.unbound,
            "uses": list(self.uses),
        }


class LineCounter:
    """Count the lines of the student's own code that one call executes (``sys.settrace``).

    Library and standard-library frames are not traced, so the count measures the
    structure of the student's code: a loop over T time steps runs O(T) lines,
    a scan over log2(T) doubling steps O(log T).
    """

    def __init__(self, guard: Guard):
        self.guard = guard
        self.lines = 0

    def _local(self, frame, event, arg):
        if event == "line":
            self.lines += 1
        return self._local

    def _global(self, frame, event, arg):
        name = frame.f_code.co_filename
        if name == _SELF or self.guard._is_stdlib(name) or self.guard._package_of_file(name):
            return None  # this runtime itself (in the sandbox it is not under a course dir)
        return self._local

    def __enter__(self):
        self._previous = sys.gettrace()
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc):
        sys.settrace(self._previous)
        return False


def _describe_exception(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "(a message that cannot be displayed)"
    return f"{type(exc).__name__}: {text[:600]}" if text else type(exc).__name__


def _copy(value):
    if type(value) is np.ndarray:
        return value.copy()
    if type(value) is tuple:
        return tuple(_copy(v) for v in value)
    return value


def _same(mine, original) -> bool:
    """Did the student's copy stay equal to the original (no writing into inputs)?

    Floating arrays may differ by round-off: nudging an entry and undoing it by arithmetic
    (``W[i, j] += eps`` ... ``W[i, j] -= eps``, as a finite-difference checker does) can leave
    the last bit changed, which is no bug; forgetting to undo it changes the entry by ``eps``.
    """
    if type(original) is np.ndarray:
        if type(mine) is not np.ndarray or mine.shape != original.shape:
            return False
        if np.array_equal(mine, original, equal_nan=True):
            return True
        if original.dtype.kind != "f" or mine.dtype != original.dtype or not original.size:
            return False
        scale = float(np.max(np.abs(original[np.isfinite(original)]), initial=0.0)) or 1.0
        with np.errstate(invalid="ignore"):
            close = np.abs(mine - original) <= 1e-12 * np.abs(original) + 1e-15 * scale
        return bool(np.all(close | (np.isnan(mine) & np.isnan(original)) | (mine == original)))
    if type(original) is tuple:
        return all(_same(a, b) for a, b in zip(mine, original))
    return True


def call(
    fn,
    args: dict,
    *,
    allowed=("numpy",),
    forbidden=(),
    course_dirs=(),
    guard: bool = True,
    count_lines: bool = False,
) -> Outcome:
    """Call ``fn`` on copies of ``args``, positionally in their order (the stub's), so that a
    student may rename parameters; never raises for what the student did.

    ``error`` is ``NOT_IMPLEMENTED`` for the notebook's stub, else the
    exception's type and message. ``unbound`` says why the arguments do not fit the
    function's parameters (it was not called). ``mutated`` names an input the function
    changed in place. ``violation`` is the first rule the :class:`Guard` saw broken.
    ``uses`` names the notebook's own functions that ``fn`` calls (directly or through others).
    """
    if not callable(fn):
        return Outcome(error=f"it is a {type(fn).__name__}, not a function")
    unbound = _unbound(fn, len(args))
    if unbound is not None:
        return Outcome(error="TypeError: " + unbound, unbound=unbound)
    uses = referenced_functions(fn)
    copies = {k: _copy(v) for k, v in args.items()}
    watcher = Guard(allowed, forbidden, course_dirs) if guard else None
    counter = (
        LineCounter(watcher or Guard(allowed, forbidden, course_dirs)) if count_lines else None
    )
    start = time.perf_counter()
    try:
        if counter is not None:
            with counter:
                result = _watched(fn, copies, watcher)
        else:
            result = _watched(fn, copies, watcher)
    except NotImplementedError:
        return Outcome(
            error=NOT_IMPLEMENTED,
            seconds=time.perf_counter() - start,
            violation=watcher.violation if watcher else None,
            uses=uses,
        )
    except (KeyboardInterrupt, SystemExit) as exc:
        return Outcome(
            error=_describe_exception(exc), seconds=time.perf_counter() - start, uses=uses
        )
    except Exception as exc:
        return Outcome(
            error=_describe_exception(exc),
            seconds=time.perf_counter() - start,
            violation=watcher.violation if watcher else None,
            uses=uses,
        )
    seconds = time.perf_counter() - start
    mutated = None
    for key, value in args.items():
        if not _same(copies[key], value):
            mutated = key
            break
    return Outcome(
        value=plain(result),
        violation=watcher.violation if watcher else None,
        mutated=mutated,
        seconds=seconds,
        lines=counter.lines if counter is not None else None,
        uses=uses,
    )


def _unbound(fn, count: int) -> str | None:
    """Why ``count`` positional arguments cannot be bound to ``fn``'s parameters, or None."""
    import inspect

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin or an object without a signature: just call it
    try:
        signature.bind(*range(count))
    except TypeError as exc:
        return f"yours is `{getattr(fn, '__name__', 'it')}{signature}` ({exc})"
    return None


def referenced_functions(fn, limit: int = 50) -> tuple[str, ...]:
    """Names of the plain functions of ``fn``'s namespace that ``fn`` calls, directly or
    through one another (read from their code, nothing is run)."""
    import types

    namespace = getattr(fn, "__globals__", None)
    code = getattr(fn, "__code__", None)
    if not isinstance(namespace, dict) or code is None:
        return ()
    found: list[str] = []
    stack = [code]
    seen_codes = set()
    while stack and len(found) < limit:
        current = stack.pop()
        if id(current) in seen_codes:
            continue
        seen_codes.add(id(current))
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
        for name in current.co_names:
            value = namespace.get(name)
            if type(value) is types.FunctionType and name not in found:
                found.append(name)
                stack.append(value.__code__)
    return tuple(found)


def _watched(fn, args, watcher):
    values = list(args.values())
    if watcher is None:
        return fn(*values)
    with watcher:
        return fn(*values)


# ----------------------------------------------------------------------------- the wire


def encode(value, folder: str, stem: str):
    """A JSON descriptor of plain ``value``; arrays are written to ``folder/stem*.npy``."""
    if type(value) is np.ndarray:
        name = f"{stem}.npy"
        np.save(os.path.join(folder, name), value, allow_pickle=False)
        return {"kind": "array", "file": name}
    if isinstance(value, Foreign):
        return {
            "kind": "foreign",
            "module": value.module[:200],
            "qualname": value.qualname[:200],
            "note": value.note[:200],
        }
    if type(value) in (tuple, ListOf):
        return {
            "kind": "list" if type(value) is ListOf else "tuple",
            "items": [encode(v, folder, f"{stem}.{i}") for i, v in enumerate(value)],
        }
    if type(value) is bool:
        return {"kind": "bool", "value": value}
    if type(value) is int:
        return {"kind": "int", "value": str(value)}
    if type(value) is float:
        return {"kind": "float", "value": float.hex(value)}
    if type(value) is str:
        return {"kind": "str", "value": value[:10000]}
    if value is None:
        return {"kind": "none"}
    module, qualname = _type_of(value)
    return {"kind": "foreign", "module": module[:200], "qualname": qualname[:200], "note": ""}


def decode(desc, folder: str, max_bytes: int = 64 * 2**20):
    """The value ``desc`` describes (untrusted input: checked, never unpickled)."""
    if not isinstance(desc, dict):
        raise ValueError("malformed value descriptor")
    kind = desc.get("kind")
    if kind == "array":
        name = str(desc.get("file", ""))
        if os.sep in name or name.startswith("."):
            raise ValueError("malformed array file name")
        path = os.path.join(folder, name)
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > max_bytes:
            raise ValueError("missing or oversized array file")
        return np.load(path, allow_pickle=False)
    if kind in ("tuple", "list"):
        items = desc.get("items")
        if not isinstance(items, list) or len(items) > 64:
            raise ValueError("malformed tuple")
        values = (decode(item, folder, max_bytes) for item in items)
        return ListOf(values) if kind == "list" else tuple(values)
    if kind == "bool":
        return bool(desc["value"] is True)
    if kind == "int":
        return int(str(desc["value"])[:4300])
    if kind == "float":
        return float.fromhex(str(desc["value"]))
    if kind == "str":
        return str(desc["value"])
    if kind == "none":
        return None
    if kind == "foreign":
        return Foreign(
            str(desc.get("module", ""))[:200],
            str(desc.get("qualname", ""))[:200],
            str(desc.get("note", ""))[:200],
        )
    raise ValueError(f"unknown value kind {kind!r}")


_MAGIC = re.compile(r"^([ \t]*)[%!].*$", re.M)


def without_magics(source: str) -> str:
    """IPython magics (``%timeit``, ``!ls``, ``%%time``) become ``pass``: plain Python has none."""
    return _MAGIC.sub(lambda m: m.group(1) + "pass", source)


def dumps(obj) -> str:
    return json.dumps(obj)
