"""The grading kernels forked from the worker's zygote (autograder/grading/zygote.py).

Each kernel must be a fresh process (no state shared between submissions), under
the memory limit, interruptible through the launcher, and gone when its launcher
is SIGKILLed; without a zygote the launcher still starts the kernel itself.
"""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest

jupyter_client = pytest.importorskip("jupyter_client")

from autograder.grading import job, zygote  # noqa: E402

MEM = 3 * 2**30


@pytest.fixture(scope="module")
def kernels():
    saved = {
        k: os.environ.get(k)
        for k in ("JUPYTER_PATH", "RNN_GRADE_KERNEL_MEM", zygote.ENV_SOCKET, zygote.ENV_PID)
    }
    job._kernel_spec_dir(MEM)
    assert os.environ.get(zygote.ENV_SOCKET), "the zygote did not start"
    yield zygote._CURRENT
    zygote.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Kernel:
    def __init__(self, cwd):
        self.km = jupyter_client.KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    @property
    def launcher(self) -> int:
        return self.km.provisioner.process.pid

    def run(self, code: str, timeout: float = 60) -> tuple[str, dict]:
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(msg["content"]["ename"])

        reply = self.kc.execute_interactive(code, output_hook=hook, timeout=timeout)
        return "".join(out), reply["content"]

    def value(self, expr: str):
        text, reply = self.run(f"import json as _j; print(_j.dumps({expr}))")
        assert reply["status"] == "ok", text
        return json.loads(text.strip().splitlines()[-1])

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_each_kernel_is_a_fresh_fork(kernels, tmp_path):
    (tmp_path / "helper_mod.py").write_text("X = 41\n")
    seen = []
    for _ in range(2):
        k = Kernel(tmp_path)
        try:
            info = k.value(
                "{'pid': __import__('os').getpid(), 'ppid': __import__('os').getppid(),"
                " 'cwd': __import__('os').getcwd(),"
                " 'torch': 'torch' in __import__('sys').modules,"
                " 'leak': 'leaked' in globals(),"
                " 'checks_leak': hasattr(__import__('autograder.checks.ch02_elman')"
                ".checks.ch02_elman, 'LEAKED'),"
                " 'env': __import__('os').environ.get('RNN_GRADE_KERNEL_MEM'),"
                " 'zyg': [k for k in __import__('os').environ if 'ZYGOTE' in k],"
                " 'helper': __import__('helper_mod').X}"
            )
            assert info["ppid"] == kernels.proc.pid  # forked by the zygote
            assert info["pid"] != k.launcher
            assert info["torch"]  # preloaded
            assert not info["leak"] and not info["checks_leak"]
            assert os.path.samefile(info["cwd"], tmp_path)
            assert info["env"] == str(MEM)
            assert info["zyg"] == []
            assert info["helper"] == 41  # the notebook's folder is importable
            seen.append(info["pid"])
            # State a submission might leave behind, in its kernel and in the shared modules.
            text, reply = k.run(
                "leaked = 1\nimport autograder.checks.ch02_elman as _c\n"
                "_c.LEAKED = True\nimport numpy as np\n"
                "print(float(np.random.rand()))"
            )
            assert reply["status"] == "ok", text
            seen.append(float(text))
        finally:
            k.close()
        assert _gone(info["pid"], 10)
    assert seen[0] != seen[2]  # different processes
    assert seen[1] != seen[3]  # NumPy's global generator is reseeded per kernel


def test_memory_limit_applies(kernels, tmp_path):
    k = Kernel(tmp_path)
    try:
        limit = k.value("__import__('resource').getrlimit(__import__('resource').RLIMIT_AS)[0]")
        assert limit == MEM
        text, reply = k.run("import numpy as np\nx = np.ones(4 * 2**30 // 8)")
        assert reply["status"] == "error" and "MemoryError" in text
        assert k.value("1 + 1") == 2
    finally:
        k.close()


def test_interrupt_reaches_the_forked_kernel(kernels, tmp_path):
    k = Kernel(tmp_path)
    try:
        k.kc.execute("import time\ntime.sleep(60)", stop_on_error=False)  # no abort window after it
        time.sleep(1.0)
        start = time.monotonic()
        k.km.interrupt_kernel()
        reply = k.kc.get_shell_msg(timeout=20)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - start < 10
        assert k.value("2 + 2") == 4
    finally:
        k.close()


def test_sigkilled_launcher_takes_its_kernel_along(kernels, tmp_path):
    k = Kernel(tmp_path)
    try:
        pid = k.value("__import__('os').getpid()")
        k.run(
            "import subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
            "print(child.pid)"
        )
        grandchild = k.value("child.pid")
        assert pid != k.launcher
        os.kill(k.launcher, signal.SIGKILL)
        assert _gone(pid, 10)
        assert _gone(grandchild, 10)
        assert k.km.provisioner.process.wait(10) == -signal.SIGKILL
    finally:
        k.kc.stop_channels()
        try:
            k.km.shutdown_kernel(now=True)
        except Exception:
            pass


def test_kernel_exit_status_passes_through_the_launcher(kernels, tmp_path):
    k = Kernel(tmp_path)
    try:
        k.kc.execute("import os\nos._exit(7)")
        assert k.km.provisioner.process.wait(20) == 7
    finally:
        k.kc.stop_channels()
        try:
            k.km.shutdown_kernel(now=True)
        except Exception:
            pass


def test_without_a_zygote_the_launcher_starts_the_kernel_itself(kernels, tmp_path, monkeypatch):
    monkeypatch.setenv(zygote.ENV_SOCKET, str(tmp_path / "no-such.sock"))
    k = Kernel(tmp_path)
    try:
        info = k.value(
            "{'pid': __import__('os').getpid(), 'zyg': __import__('os').environ"
            ".get('RNN_GRADE_ZYGOTE'), 'mem': __import__('resource')"
            ".getrlimit(__import__('resource').RLIMIT_AS)[0]}"
        )
        assert info["pid"] == k.launcher
        assert info["zyg"] is None
        assert info["mem"] == MEM
    finally:
        k.close()


def test_the_launcher_talks_only_to_its_own_zygote(kernels, tmp_path, monkeypatch):
    import socket

    fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fake.bind(str(tmp_path / "fake.sock"))
    fake.listen(1)
    monkeypatch.setenv(zygote.ENV_SOCKET, str(tmp_path / "fake.sock"))
    try:
        k = Kernel(tmp_path)
        try:
            assert k.value("__import__('os').getpid()") == k.launcher
        finally:
            k.close()
    finally:
        fake.close()


def test_the_zygote_ends_with_its_worker(tmp_path):
    import subprocess
    import sys

    code = (
        "import os, sys, time\n"
        "from autograder.grading import job, zygote\n"
        "assert zygote.configure(job.KERNEL_ENV)\n"
        "print(os.environ[zygote.ENV_PID], flush=True)\n"
        "time.sleep(120)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=tmp_path)
    try:
        pid = int(worker.stdout.readline())
        assert psutil.Process(pid).ppid() == worker.pid
        worker.kill()
        worker.wait(10)
        assert _gone(pid, 10)
    finally:
        worker.kill()
        worker.wait(10)
