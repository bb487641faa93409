"""The IPython kernel nbgrader starts while grading, with resource limits.

The grader points ``JUPYTER_PATH`` at a folder whose ``kernels/python3`` spec
runs ``python -m autograder.grading.kernel_launcher -f {connection_file}``:
this sets an address-space limit (``RNN_GRADE_KERNEL_MEM`` bytes) before the
kernel exists, so a memory bomb in a submission ends with a MemoryError or a
dead kernel instead of taking the machine down. Nothing else differs from the
stock ``ipykernel_launcher``.
"""
import os
import resource
import sys

if __name__ == "__main__":
    mem = int(os.environ.get("RNN_GRADE_KERNEL_MEM", "0") or 0)
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    from ipykernel import kernelapp as app
    app.launch_new_instance()
