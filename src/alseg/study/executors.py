"""Executors run a study's experiments: one after another here, or as Ray tasks.

Both write through the same store API (one SQLite file, one transaction per cycle), so a study
can be stopped at any moment and re-run with either executor. With Ray every run is a task that
requests ``cpus_per_run`` CPUs, ``gpus_per_run`` GPUs and the custom ``resources``; without an
address a local Ray cluster is started (no dashboard) and stopped at the end.

Only the driver's host touches the study folder. The Ray executor starts a ``StoreWriter`` actor
on the driver's node; a task gets what its run continues from (stored cycles, checkpoint bytes)
as arguments at submission and sends every write (a finished cycle with its checkpoint bytes, a
shared cycle 0) to that actor, which commits it, one transaction per cycle. A shared cycle 0
also travels to the runs that wait for it through Ray's object store. So on a multi-node cluster
the study folder stays on the driver's disk (no network file system, SQLite in WAL mode), and
the workers need only the data. A run whose worker or node dies is submitted again, from the
cycles committed by then; Ray itself retries a shared cycle 0, which starts from nothing. The
driver must run on a node of the cluster (``ray.init`` with its address, not a ``ray://``
client).

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
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from rich.console import Console

from alseg.bars import progress_bars
from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult
from alseg.devices import resolve_device
from alseg.errors import AlsegError, ConfigError, unknown_name
from alseg.loop import make_setup
from alseg.study.store import Store
from alseg.study.worker import (
    NEW_RUN,
    CycleCommit,
    Resume,
    SetupFactory,
    SharedCycle,
    StoreWriter,
    _stored_shared,
    ensure_shared_cycle,
    execute_run,
    shared_key,
)


@dataclass(frozen=True)
class RunContext:
    """What every run needs besides its config; picklable, so it travels to Ray workers.
    ``writer`` is the Ray executor's ``StoreWriter`` actor, which its tasks write through."""

    store_dir: str
    device: str = "auto"
    save_embeddings: bool = True
    setup_factory: SetupFactory = make_setup
    writer: Any = None

    def store(self) -> Store:
        return Store(self.store_dir)


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
        self.progress = progress_bars(console, 34, disable=console is None)
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
        if self.console is not None and not self.console.is_terminal:  # a log file: one line
            seconds = result.train_seconds + result.eval_seconds + result.score_seconds
            self.log(
                f"{self.current} cycle {result.cycle}: {result.labeled} labeled, "
                f"mIoU {result.miou:.2f}, {seconds:.0f} s"
            )


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
    threads (None: the process's setting; the CLI passes ``default_threads()``); the process's own
    setting comes back afterwards. CPU
    results are bitwise reproducible for a fixed thread count only: float reductions split
    differently over threads."""

    threads: int | None = None
    name: str = field(default="local", init=False)
    multi_node: bool = field(default=False, init=False)

    def execute(
        self, runs: list[Planned], context: RunContext, progress: StudyProgress
    ) -> list[RunFailure]:
        previous = torch.get_num_threads()
        if self.threads is not None:
            set_torch_threads(self.threads)
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
                    StoreWriter(store),
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


class TaskStore:
    """A Ray task's view of the store: what the driver read for the run at submission, and the
    driver's ``StoreWriter`` actor for every write (each waits for its commit)."""

    def __init__(self, writer: Any, resume: Resume, shared: SharedCycle | None) -> None:
        self.writer, self.stored, self.stored_shared = writer, resume, shared

    def resume(self, config: ExperimentConfig) -> Resume:
        return self.stored

    def shared(self, key: str) -> SharedCycle | None:
        return self.stored_shared

    def mark_started(self, key: str) -> None:
        _import_ray().get(self.writer.mark_started.remote(key))

    def mark_failed(self, key: str, error: str) -> None:
        _import_ray().get(self.writer.mark_failed.remote(key, error))

    def put_shared(self, shared: SharedCycle) -> None:
        _import_ray().get(self.writer.put_shared.remote(shared))

    def commit(self, commit: CycleCommit) -> None:
        _import_ray().get(self.writer.commit.remote(commit))


def _ray_task(
    config_values: dict[str, Any],
    context: RunContext,
    shared_only: bool,
    threads: int,
    resume: Resume = NEW_RUN,
    shared: SharedCycle | None = None,
) -> None:
    """Body of one Ray task: a shared cycle 0, or a whole run continuing from ``resume`` with its
    stored cycle 0 ``shared``. It never opens the study folder: it writes through
    ``context.writer``."""
    set_torch_threads(threads)
    config = ExperimentConfig(**config_values)
    device = resolve_device(context.device)
    store = TaskStore(context.writer, resume, shared)
    if shared_only:
        ensure_shared_cycle(config, store, device, context.setup_factory, context.save_embeddings)
    else:
        execute_run(
            config, store, device, context.setup_factory, save_embeddings=context.save_embeddings
        )


@dataclass
class RayExecutor:
    """One Ray task per run (and one per shared cycle 0, which the runs that share it wait for).

    ``address`` None starts a local cluster without the dashboard; ``gpus_per_run`` None asks for
    one GPU per run where the device is cuda, or auto on a cluster with GPUs; ``resources`` are
    custom Ray resources every task asks for (e.g. ``{"data": 1}`` for the nodes that hold the
    data). Each task uses int(cpus_per_run) torch threads (so a local study with as many threads
    gives equal results). A run whose worker or node dies is submitted again up to ``retries``
    times, each time from the cycles committed by then."""

    address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float | None = None
    poll_seconds: float = 1.0
    resources: dict[str, float] = field(default_factory=dict)
    retries: int = 3
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
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        store = Store(Path(context.store_dir).absolute())  # the actor's working folder differs
        writer = ray.remote(StoreWriter).options(num_cpus=0, scheduling_strategy=here).remote(store)
        try:
            return _RayStudy(self, ray, replace(context, writer=writer), progress).run(runs)
        finally:
            ray.kill(writer)  # no write reaches the store once the study has returned

    def gpus(self, ray: Any, device: str) -> float:
        """GPUs each task asks for."""
        if self.gpus_per_run is not None:
            return self.gpus_per_run
        if device == "cuda" or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0):
            return 1.0
        return 0.0


class _RayStudy:
    """The Ray executor's work on one study: submit the runs, then collect them, submitting a run
    again where its worker or node died."""

    def __init__(
        self, executor: RayExecutor, ray: Any, context: RunContext, progress: StudyProgress
    ) -> None:
        self.ray, self.context, self.progress = ray, context, progress
        self.writer, self.store = context.writer, context.store()
        self.threads, self.retries = max(1, int(executor.cpus_per_run)), executor.retries
        self.poll_seconds = executor.poll_seconds
        task = ray.remote(_ray_task)
        options = {
            "num_cpus": executor.cpus_per_run,
            "num_gpus": executor.gpus(ray, context.device),
            "resources": executor.resources,
        }
        self.shared_task = task.options(**options)  # starts from nothing: Ray retries it
        self.run_task = task.options(**options, max_retries=0)  # the driver knows where it stands
        self.shared_cycles: dict[str, Any] = {}  # shared key -> the writer's read of cycle 0
        self.restarts: Counter[str] = Counter()

    def run(self, runs: list[Planned]) -> list[RunFailure]:
        pending = {self.submit(run): run for run in runs}
        failures: list[RunFailure] = []
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1, timeout=self.poll_seconds)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    self.ray.get(ref)
                except self.ray.exceptions.RayTaskError as error:  # its code or cycle 0's raised
                    failures.append(self.failed(run, error.cause))
                    if isinstance(error.cause, AlsegError):
                        for other in pending:
                            self.ray.cancel(other)
                        raise error.cause from None
                except self.ray.exceptions.RayError as error:  # its worker or node died
                    if self.restarts[run.key] == self.retries:
                        failures.append(self.failed(run, error))
                    else:
                        self.restarts[run.key] += 1
                        pending[self.submit(run)] = run
                        reason = type(error).__name__
                        self.progress.log(f"[yellow]submitted again[/]: {run.label} ({reason})")
                else:
                    self.progress.log(f"done: {run.label}")
            self.progress.refresh(info=f"{len(pending)} in flight")
        return failures

    def submit(self, run: Planned) -> Any:
        """A task for the run, from what is stored of it now (read by the writer, so after any
        commit still under way), with its shared cycle 0 where it has none stored."""
        values = run.config.model_dump(mode="json")
        resume = self.writer.resume.remote(run.config)
        started = self.store.cycle_counts().get(run.key, 0) > 0
        shared = None if started else self.shared(run.config)
        return self.run_task.remote(values, self.context, False, self.threads, resume, shared)

    def shared(self, config: ExperimentConfig) -> Any:
        """The run's shared cycle 0 (an object reference) as the writer reads it from the store,
        once a task has trained and stored it where it is not stored yet. Its bytes thus stay on
        the driver's node, whichever node trained it. None: the run shares nothing."""
        key = shared_key(config)
        if key is None:
            return None
        if key not in self.shared_cycles:
            trained = []
            if _stored_shared(self.store, key) is None:
                values = config.model_dump(mode="json")
                trained.append(self.shared_task.remote(values, self.context, True, self.threads))
            self.shared_cycles[key] = self.writer.shared.remote(key, *trained)
        return self.shared_cycles[key]

    def failed(self, run: Planned, cause: BaseException) -> RunFailure:
        """Record the run as failed (also when its shared cycle 0 failed)."""
        message = f"{type(cause).__name__}: {cause}"
        self.ray.get(self.writer.mark_failed.remote(run.key, message))
        self.progress.log(f"[red]failed[/]: {run.label}: {cause}")
        return RunFailure(run.key, run.label, message)


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
