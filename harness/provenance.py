"""Provenance of a run: the code's commit, library versions, BLAS, thread settings, machine, peak memory."""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

from .paths import PROJECT_ROOT

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "LSTM_TWINS_NUMPY_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# OpenBLAS picks its kernels and cache blocking for the CPU it finds, unless these pin them: some machines
# set them because older OpenBLAS builds crash or compute wrongly there, and pinned older kernels than the
# CPU has (Haswell's AVX2 on an AVX-512 machine) halve a current NumPy's matmul rate
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def environment() -> dict:
    """Library versions, BLAS, threads and machine, so a reader can tell why two machines differ."""
    import numpy as np

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("tensorflow", "keras", "torch"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = module.__version__
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return {
        "git_commit": git_commit(),
        "versions": versions,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpu_model": cpu_model(),
                    "cpus": os.cpu_count(),
                    "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None},
        "threads": thread_settings(),
    }


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC 7B13", "Intel(R) Xeon(R) Processor"), as Linux names it; else what
    platform knows ("" where nothing does): with the thread settings, what an epoch's seconds depend on."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def thread_settings() -> dict:
    """Every thread count that decides speed: the variables set, BLAS's pools (and the CPU kernels each
    chose), the NumPy twin's threads, TF's, PyTorch's."""
    from threadpoolctl import threadpool_info

    settings = {"environment": {k: os.environ[k] for k in THREAD_VARIABLES + KERNEL_VARIABLES if k in os.environ},
                "blas_pools": [{"api": pool["internal_api"], "threads": pool["num_threads"],
                                "kernels": pool.get("architecture")} for pool in threadpool_info()]}
    if "impl_numpy.parallel" in sys.modules:
        settings["numpy_twin_threads"] = sys.modules["impl_numpy.parallel"].thread_count()
    if "tensorflow" in sys.modules:
        threading = sys.modules["tensorflow"].config.threading
        settings["tensorflow"] = {"intra_op": threading.get_intra_op_parallelism_threads(),  # 0: one per core
                                  "inter_op": threading.get_inter_op_parallelism_threads()}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        settings["pytorch"] = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    return settings


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """The project's commit, with "+changes" when the code differs from it (results/ and README.md aside)."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results",
                                ":!README.md"], cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def _proc_status_mib(field: str) -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB: everything it held at its fullest
    (interpreter, libraries, data, model, work arrays).

    Linux: VmHWM of /proc/self/status. (getrusage's ru_maxrss is no use in a child process:
    it starts from the parent's peak at fork time.) Elsewhere: ru_maxrss.
    """
    peak = _proc_status_mib("VmHWM:")
    if peak:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
