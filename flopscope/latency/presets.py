"""Named latency presets: ONNX Runtime session settings, providers and CPU pinning.

``cpu``
    CPUExecutionProvider, one intra-op thread per physical core, full graph optimisation.
``mobile``
    A mobile-like CPU: 1 intra-op thread (``threads`` up to 4), sequential execution, no
    spinning, the calling thread pinned to that many cores, symbolic input dims fixed,
    and only the portable (basic) graph rewrites — no x86-only NCHWc layouts. The kernels
    are still x86 ones, so results are labelled "mobile-like".
``gpu``
    CUDAExecutionProvider with inputs and outputs bound on the device. A missing provider
    or a silent fall-back to the CPU is an error, never CPU numbers labelled gpu.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flopscope.errors import FlopscopeError

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"

#: ORT session config keys the presets set
SPIN_INTRA = "session.intra_op.allow_spinning"
SPIN_INTER = "session.inter_op.allow_spinning"

#: ORT's warnings (unused initializers, NCHWc serialisation) would clutter a benchmark's output
LOG_ERRORS_ONLY = 3


@dataclass(frozen=True)
class Preset:
    """One named way to run a model. ``threads=None`` means one per physical core."""

    name: str
    provider: str
    label: str
    threads: int | None = None
    max_threads: int | None = None
    optimization: str = "all"        # ORT level: "disable", "basic", "extended" or "all"
    sequential: bool = True
    spinning: bool = True
    pin: bool = False                # pin the calling thread (and ORT's threads) to `threads` cores
    fixed_shapes: bool = False       # turn bound symbolic dims into free-dimension overrides
    io_binding: bool = False         # inputs and outputs live on the device
    device: str = "cpu"              # where the model runs: "cpu" or "cuda" (ORT's device type)
    note: str = ""                   # a note every measurement under this preset carries
    missing_hint: str = ""           # what to install when this onnxruntime lacks the provider
    fallback_hint: str = ""          # why the provider may fail to start although installed

    def resolve_threads(self, requested: int | None) -> int:
        """The intra-op thread count for a run, checked against the preset's limits."""
        threads = requested if requested is not None else self.threads
        if threads is None:
            threads = physical_cores()
        if threads < 1:
            raise FlopscopeError(f"--threads must be >= 1 (preset {self.name})")
        if self.max_threads is not None and threads > self.max_threads:
            raise FlopscopeError(f"preset {self.name} runs at most {self.max_threads} threads, "
                                 f"not {threads}")
        if self.pin and threads > len(available_cpus()):
            raise FlopscopeError(f"preset {self.name} pins {threads} thread(s) to as many cores, "
                                 f"but this process may use only {len(available_cpus())}")
        return threads

    def session_options(self, threads: int, free_dims: Mapping[str, int] | None = None) -> Any:
        """The ``onnxruntime.SessionOptions`` of this preset with ``threads`` intra-op threads."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = (ort.ExecutionMode.ORT_SEQUENTIAL if self.sequential
                             else ort.ExecutionMode.ORT_PARALLEL)
        so.graph_optimization_level = _optimization_levels(ort)[self.optimization]
        so.log_severity_level = LOG_ERRORS_ONLY
        if not self.spinning:
            so.add_session_config_entry(SPIN_INTRA, "0")
            so.add_session_config_entry(SPIN_INTER, "0")
        if self.fixed_shapes:
            for name, size in (free_dims or {}).items():
                so.add_free_dimension_override_by_name(name, size)
        return so

    def providers(self) -> list[str]:
        """Providers to request; only the one the preset names (ORT adds the CPU for ops
        the device lacks, which :func:`check_session` tolerates)."""
        return [self.provider]

    def describe(self, threads: int) -> str:
        """One line for reports: what this preset runs."""
        text = f"{self.label}: {self.provider}, {threads} intra-op thread(s), {self.optimization} " \
               "graph optimisation"
        if self.pin:
            text += f", pinned to {threads} core(s)"
        if not self.spinning:
            text += ", no spinning"
        return text


def _optimization_levels(ort: Any) -> dict[str, Any]:
    level = ort.GraphOptimizationLevel
    return {"disable": level.ORT_DISABLE_ALL, "basic": level.ORT_ENABLE_BASIC,
            "extended": level.ORT_ENABLE_EXTENDED, "all": level.ORT_ENABLE_ALL}


PRESETS: dict[str, Preset] = {
    "cpu": Preset("cpu", CPU_PROVIDER, "cpu"),
    "mobile": Preset("mobile", CPU_PROVIDER, "mobile-like (x86 kernels)", threads=1, max_threads=4,
                     optimization="basic", sequential=True, spinning=False, pin=True,
                     fixed_shapes=True,
                     note="mobile-like: a desktop CPU restricted to mobile settings; x86 kernels, "
                          "not a phone's"),
    "gpu": Preset("gpu", CUDA_PROVIDER, "gpu", io_binding=True, device="cuda",
                  missing_hint="install onnxruntime-gpu (pip uninstall onnxruntime && pip install "
                               "onnxruntime-gpu) on a machine with an NVIDIA GPU and driver",
                  fallback_hint="no usable NVIDIA GPU, or the CUDA 12 / cuDNN 9 libraries that "
                                "onnxruntime-gpu loads are missing: pip install "
                                "'onnxruntime-gpu[cuda,cudnn]'"),
}


def get_preset(name: str | Preset) -> Preset:
    """A preset by name (or the preset itself), or FlopscopeError."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise FlopscopeError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}") from None


# --------------------------------------------------------------------------- providers


def check_provider(preset: Preset) -> None:
    """Raise FlopscopeError, naming what to install (the preset's ``missing_hint``), when
    ONNX Runtime lacks the preset's provider."""
    import onnxruntime as ort

    if preset.provider in ort.get_available_providers():
        return
    hint = f": {preset.missing_hint}" if preset.missing_hint else ""
    raise FlopscopeError(f"preset {preset.name} needs {preset.provider}, which the installed "
                         f"{_ort_distribution()} {ort.__version__} does not provide{hint}")


def check_session(session: Any, preset: Preset) -> None:
    """After creation: the preset's provider must really be in use (ORT falls back to the
    CPU with only a warning when a provider cannot be created)."""
    used = session.get_providers()
    if preset.provider not in used:
        hint = f" ({preset.fallback_hint})" if preset.fallback_hint else ""
        raise FlopscopeError(f"preset {preset.name}: ONNX Runtime could not create "
                             f"{preset.provider}{hint}; it would run on {', '.join(used)}, and "
                             "flopscope does not report those numbers as "
                             f"{preset.name}")


def _ort_distribution() -> str:
    """The installed onnxruntime distribution (importlib.metadata costs 30 ms: imported here,
    not when the CLI starts)."""
    import importlib.metadata

    for dist in ("onnxruntime-gpu", "onnxruntime"):
        try:
            importlib.metadata.version(dist)
            return dist
        except importlib.metadata.PackageNotFoundError:
            continue
    return "onnxruntime"


# --------------------------------------------------------------------------- cores


def available_cpus() -> list[int]:
    """Logical CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _core_key(cpu: int) -> tuple[str, str] | None:
    """(package, core) of a logical CPU from sysfs, or None where it is not exposed."""
    base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
    try:
        with open(f"{base}/physical_package_id", encoding="ascii") as f:
            package = f.read().strip()
        with open(f"{base}/core_id", encoding="ascii") as f:
            core = f.read().strip()
    except OSError:
        return None
    return package, core


def physical_cores(cpus: Iterable[int] | None = None) -> int:
    """Physical cores among ``cpus`` (default: those this process may use); hyper-threads
    of one core count once. Falls back to the logical count where sysfs says nothing."""
    cpus = list(available_cpus() if cpus is None else cpus)
    keys = [_core_key(c) for c in cpus]
    if not cpus or any(k is None for k in keys):
        return max(1, len(cpus))
    return len(set(keys))


def choose_cores(n: int) -> list[int]:
    """``n`` logical CPUs to pin to, on distinct physical cores where there are enough."""
    cpus = available_cpus()
    if n > len(cpus):
        raise FlopscopeError(f"cannot pin to {n} cores: this process may use {len(cpus)}")
    chosen: list[int] = []
    seen: set[Any] = set()
    for cpu in cpus:                     # one hyper-thread per physical core first
        key = _core_key(cpu) or cpu
        if key not in seen:
            seen.add(key)
            chosen.append(cpu)
    chosen += [c for c in cpus if c not in chosen]
    return sorted(chosen[:n])


@contextlib.contextmanager
def pinned(cores: Iterable[int] | None) -> Iterator[list[int] | None]:
    """Pin the calling thread — and so the threads it starts, such as an ORT session's
    pool — to ``cores`` for the ``with`` block; the previous affinity is restored after.

    ``None`` pins nothing. Where the OS has no affinity call (macOS) nothing is pinned and
    the block sees None.
    """
    if cores is None or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    wanted = sorted(set(cores))
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, wanted)
    except OSError as exc:
        raise FlopscopeError(f"cannot pin to cores {wanted}: {exc.strerror or exc}") from None
    try:
        yield sorted(os.sched_getaffinity(0))
    finally:
        os.sched_setaffinity(0, before)


# --------------------------------------------------------------------------- device names


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine() or "unknown CPU"


def gpu_name() -> str:
    """The first GPU's name as nvidia-smi reports it, or a generic one."""
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10, check=False)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return "CUDA device 0"


def fingerprint(preset: Preset, threads: int, affinity: list[int] | None = None) -> dict[str, Any]:
    """What a measurement depends on: CPU model, cores, onnxruntime version, preset, threads
    (and the cores the run was pinned to, when it was)."""
    import onnxruntime as ort

    out: dict[str, Any] = {"cpu": cpu_name(), "physical_cores": physical_cores(),
                           "logical_cpus": os.cpu_count(), "onnxruntime": ort.__version__,
                           "preset": preset.name, "threads": threads}
    if affinity is not None:
        out["affinity"] = affinity
    return out
