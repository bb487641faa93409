"""The IPython kernel nbgrader starts while grading, with resource limits.

The grader points ``JUPYTER_PATH`` at a folder whose ``kernels/python3`` spec
runs ``python -m autograder.grading.kernel_launcher -f {connection_file}``:
this sets an address-space limit (``RNN_GRADE_KERNEL_MEM`` bytes) before the
kernel exists, so a memory bomb in a submission ends with a MemoryError or a
dead kernel instead of taking the machine down. Nothing else differs from the
stock ``ipykernel_launcher``.

When ``RNN_GRADE_ZYGOTE`` names the socket of the worker's fork server
(:mod:`autograder.grading.zygote`, which has already imported torch, NumPy,
ipykernel and the course's checks), the kernel is a fresh process forked from
it, with the same limits, environment and working directory; this process then
stands in for it (jupyter_client's signals are forwarded to the kernel, and it
exits with the kernel's status). Without a zygote, or if it does not answer,
the kernel starts here as before.
"""

import os
import resource
import sys


def _from_zygote(mem: int):
    path = os.environ.get("RNN_GRADE_ZYGOTE")
    if not path:
        return None
    try:
        from autograder.grading import zygote

        return zygote, zygote.request_kernel(path, sys.argv[1:], mem)
    except Exception:
        return None


if __name__ == "__main__":
    mem = int(os.environ.get("RNN_GRADE_KERNEL_MEM", "0") or 0)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    forked = _from_zygote(mem)
    if forked is not None:
        zygote, (sock, pid) = forked
        code = zygote.stand_in(sock, pid)
        if code < 0:
            import signal

            try:  # SIGKILL and SIGSTOP cannot be caught, so they have no handler to reset
                signal.signal(-code, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
            os.kill(os.getpid(), -code)
        sys.exit(code if 0 <= code < 256 else 1)
    os.environ.pop("RNN_GRADE_ZYGOTE", None)
    os.environ.pop("RNN_GRADE_ZYGOTE_PID", None)
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from ipykernel import kernelapp as app

    app.launch_new_instance()
