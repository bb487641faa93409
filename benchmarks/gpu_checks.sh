#!/usr/bin/env bash
# The course's GPU checks, as run on a lent NVIDIA machine that has torch, numpy and pytest
# but neither nbgrader nor Jupyter (their wheels are carried) nor bubblewrap (its .deb is):
#
#   bash benchmarks/gpu_checks.sh WHEELS_DIR DEB_DIR OUT_DIR
#
# 1. the CUDA-marked tests: every part's references on CUDA against the CPU (TF32 off), the
#    checks judging on CUDA, and one class graded with references on the CPU and on CUDA
#    (same rows; `make grade`'s own code, nbgrader's kernels included, OS-isolated);
# 2. the figures go to OUT_DIR (cuda-tests.log, gpu.txt).
#
# Preparing what is carried (here, on a machine with the package registries; for the device's
# Python 3.12): `python3 -m pip download --only-binary=:all: --python-version 3.12
# --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
# --platform manylinux2014_x86_64 --platform any -d WHEELS_DIR nbgrader==0.9.6 nbclient==0.11.0
# nbformat==5.11.1 ipykernel==7.4.0`, then delete what the device already has (torch, numpy,
# jinja2, requests, psutil, pyyaml, ...) and what grading never imports (jupyterlab, notebook,
# babel, widgets, debugpy): about 66 wheels, 27 MB. `apt-get download bubblewrap` into DEB_DIR.
set -uo pipefail
WHL=${1:-.gpu/whl}
DEB=${2:-.gpu}
OUT=${3:-/tmp/gpu-checks}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site "$WHL"/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PATH="/tmp/site/bin:$PATH" PYTHONUNBUFFERED=1
mkdir -p /tmp/bw && for f in "$DEB"/*.deb; do dpkg -x "$f" /tmp/bw; done
export RNN_GRADE_BWRAP=/tmp/bw/usr/bin/bwrap
{
  nvidia-smi -L
  python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"
  nproc
} 2>&1 | tee "$OUT/gpu.txt"
start=$(date +%s)
python3 -m pytest -q -p no:cacheprovider -m cuda -s -rs --durations=8 \
  tests/test_parts.py tests/test_references.py tests/test_grading_class.py 2>&1 | tee "$OUT/cuda-tests.log"
echo "cuda tests: $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu.txt"
