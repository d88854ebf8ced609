"""Executors run a study's experiments: one after another here, or as Ray tasks.

Both write through the same store API (one SQLite file, one transaction per cycle), so a study
can be stopped at any moment and re-run with either executor. With Ray every run is a task that
requests ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs; without an address a local Ray cluster
is started (no dashboard) and stopped at the end. On a multi-node cluster (``address`` given)
the study folder must be on storage every node sees (checkpoints of shared cycles are read by
other tasks), and the store then uses SQLite's rollback journal, whose locking works on shared
file systems, instead of WAL, which needs all writers on one host.

Threads: a run uses as many torch threads (intra-op, and inter-op where torch still allows it)
as CPUs it was given: ``threads`` of the local executor (default: OMP_NUM_THREADS, else the CPUs
this process may use), ``cpus_per_run`` of a Ray task. DataLoader workers (``train.workers``) are
single-threaded processes of their own (torch's default).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult
from alseg.devices import resolve_device
from alseg.errors import AlsegError, ConfigError, unknown_name
from alseg.loop import make_setup
from alseg.study.store import Store
from alseg.study.worker import SetupFactory, ensure_shared_cycle, execute_run, shared_key


@dataclass(frozen=True)
class RunContext:
    """What every run needs besides its config; picklable, so it travels to Ray workers."""

    store_dir: str
    device: str = "auto"
    wal: bool = True
    save_embeddings: bool = True
    setup_factory: SetupFactory = make_setup

    def store(self) -> Store:
        return Store(self.store_dir, wal=self.wal)


@dataclass(frozen=True)
class RunFailure:
    key: str
    label: str
    error: str


@dataclass
class Planned:
    """A run to execute, with its label and cycle count for the progress display."""

    config: ExperimentConfig
    label: str
    cycles: int

    @property
    def key(self) -> str:
        return self.config.key()


class Executor(Protocol):
    name: str
    multi_node: bool

    def execute(
        self, runs: list[Planned], context: RunContext, progress: StudyProgress
    ) -> list[RunFailure]: ...


class StudyProgress:
    """Terminal progress of a study: runs done, cycles done, and the current run's phase.

    Counts come from the store, so they are right for any executor; without a console it
    draws nothing."""

    def __init__(self, console: Console | None, store: Store, runs: list[Planned]) -> None:
        self.console = console
        self.store = store
        self.cycles_by_key = {run.key: run.cycles for run in runs}
        self.progress = Progress(
            TextColumn("[bold]{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            disable=console is None,
        )
        self.runs_task = self.progress.add_task("runs", total=len(runs), info="")
        total_cycles = sum(self.cycles_by_key.values())
        self.cycles_task = self.progress.add_task("cycles", total=total_cycles, info="")
        self.phase_task = self.progress.add_task("", total=None, info="", visible=False)
        self.current = ""

    def __enter__(self) -> StudyProgress:
        self.refresh()
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self.progress.stop()

    def refresh(self, info: str = "") -> None:
        """Re-read the counts of finished runs and cycles from the store."""
        counts = self.store.cycle_counts()
        statuses = self.store.statuses()
        done_runs = sum(statuses.get(key) == "done" for key in self.cycles_by_key)
        done_cycles = sum(min(counts.get(k, 0), n) for k, n in self.cycles_by_key.items())
        self.progress.update(self.runs_task, completed=done_runs, info=info)
        self.progress.update(self.cycles_task, completed=done_cycles)

    def log(self, message: str) -> None:
        if self.console is not None:
            self.progress.console.print(message, highlight=False)

    # --- the current run (local executor) ----------------------------------------------------

    def run_started(self, label: str) -> None:
        self.current = label
        self.progress.update(self.phase_task, description=label, visible=True, total=None)

    def cycle_started(self, cycle: int, cycles: int, labeled: int, iterations: int) -> None:
        self.progress.update(
            self.phase_task,
            description=f"{self.current} c{cycle}: train",
            total=iterations,
            completed=0,
            info=f"{labeled} labeled",
        )

    def train_step(self, iteration: int, total: int, loss: float) -> None:
        if iteration % 5 == 0 or iteration == total:
            self.progress.update(self.phase_task, completed=iteration, info=f"loss {loss:.3f}")

    def phase(self, name: str, done: int, total: int) -> None:
        self.progress.update(
            self.phase_task,
            description=f"{self.current}: {name}",
            total=total,
            completed=done,
            info="",
        )

    def cycle_finished(self, result: CycleResult) -> None:
        self.refresh()


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask (taskset, a batch scheduler's cgroup
    cpuset), not every core of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # no affinity masks (macOS, Windows)


def default_threads() -> int:
    """Torch threads of a local study without ``threads``: OMP_NUM_THREADS where it is set to a
    positive number, else ``available_cpus()``."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else available_cpus()


def set_torch_threads(threads: int) -> None:
    """Use ``threads`` torch intra-op (OpenMP) threads and, where torch still allows it (before
    the process's first parallel work), as many inter-op threads."""
    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        with contextlib.suppress(RuntimeError):  # fixed once parallel work has started
            torch.set_num_interop_threads(threads)


@dataclass
class LocalExecutor:
    """Runs the experiments one after another in this process, with ``threads`` torch CPU
    threads (None: ``default_threads()``); the process's own setting comes back afterwards. CPU
    results are bitwise reproducible for a fixed thread count only: float reductions split
    differently over threads."""

    threads: int | None = None
    name: str = field(default="local", init=False)
    multi_node: bool = field(default=False, init=False)

    def execute(
        self, runs: list[Planned], context: RunContext, progress: StudyProgress
    ) -> list[RunFailure]:
        previous = torch.get_num_threads()
        set_torch_threads(self.threads or default_threads())
        try:
            return self._execute(runs, context, progress)
        finally:
            torch.set_num_threads(previous)

    def _execute(
        self, runs: list[Planned], context: RunContext, progress: StudyProgress
    ) -> list[RunFailure]:
        store = context.store()
        device = resolve_device(context.device)
        failures = []
        for run in runs:
            progress.run_started(run.label)
            try:
                execute_run(
                    run.config,
                    store,
                    device,
                    context.setup_factory,
                    progress,
                    context.save_embeddings,
                )
            except AlsegError:
                raise
            except Exception as error:
                failures.append(RunFailure(run.key, run.label, f"{type(error).__name__}: {error}"))
                progress.log(f"[red]failed[/]: {run.label}: {error}")
            else:
                progress.log(f"done: {run.label}")
            progress.refresh()
        return failures


def _ray_task(
    config_values: dict[str, Any],
    context: RunContext,
    shared_only: bool,
    threads: int,
    *dependencies: Any,
) -> str:
    """Body of one Ray task: a shared cycle 0 or a whole run (after its shared cycle 0)."""
    set_torch_threads(threads)
    config = ExperimentConfig(**config_values)
    device = resolve_device(context.device)
    if shared_only:
        ensure_shared_cycle(
            config, context.store(), device, context.setup_factory, context.save_embeddings
        )
    else:
        execute_run(
            config,
            context.store(),
            device,
            context.setup_factory,
            save_embeddings=context.save_embeddings,
        )
    return config.key()


@dataclass
class RayExecutor:
    """One Ray task per run (and one per shared cycle 0, which the runs that share it wait for).

    ``address`` None starts a local cluster without the dashboard; ``gpus_per_run`` None asks for
    one GPU per run where the device is cuda, or auto on a cluster with GPUs. Each task uses
    int(cpus_per_run) torch threads (so a local study with as many threads gives equal results)."""

    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float | None = None
    poll_seconds: float = 1.0
    name: str = field(default="ray", init=False)

    @property
    def multi_node(self) -> bool:
        return self.address is not None

    def execute(
        self, runs: list[Planned], context: RunContext, progress: StudyProgress
    ) -> list[RunFailure]:
        ray = _import_ray()
        if ray.is_initialized():  # a cluster started by the caller stays the caller's
            return self._execute(ray, runs, context, progress)
        reaper = _start_ray_reaper() if self.address is None else None
        try:
            if self.address is None:
                ray.init(include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
            try:
                return self._execute(ray, runs, context, progress)
            finally:
                ray.shutdown()
        finally:
            if reaper is not None:
                _stop_ray_reaper(reaper)

    def _execute(
        self, ray: Any, runs: list[Planned], context: RunContext, progress: StudyProgress
    ) -> list[RunFailure]:
        gpus = self._gpus(ray, context.device)
        threads = max(1, int(self.cpus_per_run))
        task = ray.remote(_ray_task).options(num_cpus=self.cpus_per_run, num_gpus=gpus)
        store = context.store()
        started = store.cycle_counts()
        shared_refs: dict[str, Any] = {}
        pending: dict[Any, Planned] = {}
        for run in runs:
            dependencies = []
            key = shared_key(run.config)
            if key is not None and started.get(run.key, 0) == 0:
                if key not in shared_refs:
                    values = run.config.model_dump(mode="json")
                    shared_refs[key] = task.remote(values, context, True, threads)
                dependencies.append(shared_refs[key])
            values = run.config.model_dump(mode="json")
            pending[task.remote(values, context, False, threads, *dependencies)] = run
        failures: list[RunFailure] = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.poll_seconds)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    ray.get(ref)
                except Exception as error:
                    cause = getattr(error, "cause", None) or error
                    if isinstance(cause, AlsegError):
                        for other in pending:
                            ray.cancel(other)
                        raise cause from None
                    message = f"{type(cause).__name__}: {cause}"
                    store.mark_failed(run.key, message)  # also when its shared cycle 0 failed
                    failures.append(RunFailure(run.key, run.label, message))
                    progress.log(f"[red]failed[/]: {run.label}: {cause}")
                else:
                    progress.log(f"done: {run.label}")
            progress.refresh(info=f"{len(pending)} in flight")
        return failures

    def _gpus(self, ray: Any, device: str) -> float:
        if self.gpus_per_run is not None:
            return self.gpus_per_run
        if device == "cuda" or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0):
            return 1.0
        return 0.0


#: Run with ``python -c`` beside a driver that starts a local Ray cluster (Linux). It remembers
#: every process that descends from the driver after it started (polling /proc), and when the
#: driver dies without writing "done" to its stdin (SIGKILL, a crash) it kills the remembered
#: processes still alive. Ray ends its raylet and GCS with the driver, but its dashboard and
#: runtime-env agents outlive a killed driver by about a minute (ray 2.60).
RAY_REAPER = """
import os, select, signal, sys

driver, me = int(sys.argv[1]), os.getpid()


def processes():
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as file:
                    fields = file.read().rpartition(")")[2].split()
            except OSError:
                continue
            found[int(name)] = (int(fields[1]), fields[19], fields[0])  # ppid, start, state
    return found


def alive(found, pid, start):
    return pid in found and found[pid][1] == start and found[pid][2] != "Z"


def remember(found):
    parents = {driver} | {pid for pid, start in known.items() if alive(found, pid, start)}
    while new := {
        pid for pid, (ppid, _, _) in found.items()
        if ppid in parents and pid not in parents and pid not in before and pid != me
    }:
        known.update((pid, found[pid][1]) for pid in new)
        parents |= new


found = processes()
before = {pid for pid, (ppid, _, _) in found.items() if ppid == driver}
known = {}
while True:
    ready = select.select([sys.stdin], [], [], 0.5)[0]
    remember(processes())
    if ready:
        if sys.stdin.readline():
            sys.exit(0)
        break
found = processes()
for pid, start in known.items():
    if alive(found, pid, start):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


def _start_ray_reaper() -> subprocess.Popen[str] | None:
    """The ``RAY_REAPER`` of this driver (None where there is no /proc)."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen(
        [sys.executable, "-c", RAY_REAPER, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # outlives a Ctrl-C or kill of the driver's process group
    )


def _stop_ray_reaper(reaper: subprocess.Popen[str]) -> None:
    """Tell the reaper the cluster was shut down (so it kills nothing) and wait for it."""
    assert reaper.stdin is not None
    with contextlib.suppress(OSError):
        reaper.stdin.write("done\n")
        reaper.stdin.close()
    try:
        reaper.wait(timeout=10)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the ray executor needs the ray package: pip install 'alseg[ray]'"
        ) from None
    return ray


EXECUTOR_NAMES = ("local", "ray")


def make_executor(
    name: str,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float | None = None,
    threads: int | None = None,
) -> Executor:
    """The executor ``name``: "local" (with ``threads``) or "ray" (with the other options)."""
    if name == "local":
        if address is not None:
            raise ConfigError("--address is for the ray executor; add --executor ray")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        return LocalExecutor(threads)
    if name == "ray":
        if cpus_per_run <= 0 or (gpus_per_run is not None and gpus_per_run < 0):
            raise ConfigError(
                f"ray resources per run must be positive, got cpus {cpus_per_run}, "
                f"gpus {gpus_per_run}"
            )
        if threads is not None:
            raise ConfigError("--threads is for the local executor; ray uses --cpus-per-run")
        return RayExecutor(address, cpus_per_run, gpus_per_run)
    raise unknown_name("executor", name, EXECUTOR_NAMES)
