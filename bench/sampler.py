"""A CPU-time sampling profiler for the benchmark's profile pass, standard library only.

`setitimer(ITIMER_PROF)` sends the worker SIGPROF every `interval_s` of CPU time it uses, and the
handler records the Python stack the main thread (the event loop) is running. A sampler thread
would be skewed: it can only look while it holds the GIL, so its samples pile up wherever the loop
releases the GIL (a socket call, `os.urandom`), not where the time goes. Signal handlers run
between bytecodes of the main thread, so these samples are not; time in C code is charged to the
Python function that called it, and CPU used by uvloop's own C code shows as `asyncio/runners.py:run`.

Work in other threads (asgiref's sync thread: DRF's `initial()`, the request signals) is not in
the stacks; its CPU time is, per thread, read from /proc at start and stop.
"""

from __future__ import annotations

import os
import signal
import sysconfig
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent) + "/"
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Frames under which everything runs (the event loop, the server's run loop): at the top of every
# cumulative list, they say nothing.
ROOT_FRAMES = (
    "asyncio/base_events.py",
    "asyncio/events.py",
    "asyncio/runners.py",
    "gunicorn/",
    "uvicorn_worker/",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "uvicorn/main.py",
    ".venv/bin/",
    "bench/",
    # Django's handler chain wraps every request whole: it would fill the top of the list.
    "django/core/handlers/",
    "django/views/decorators/",
)


def frame_label(filename: str, function: str) -> str:
    """`package/module.py:function`, without the site-packages or checkout prefix."""
    if "site-packages/" in filename:
        filename = filename.rsplit("site-packages/", 1)[1]
    elif filename.startswith(ROOT):
        filename = filename[len(ROOT) :]
    elif filename.startswith(_STDLIB):
        filename = filename[len(_STDLIB) :]
    return f"{filename}:{function}"


def is_root_frame(label: str) -> bool:
    return label.startswith(ROOT_FRAMES)


def package_of(label: str) -> str:
    """The top-level package or standard-library module a frame belongs to."""
    filename = label.rpartition(":")[0]
    if filename.startswith("<"):
        return "(generated code)" if filename == "<string>" else filename.strip("<>").split()[-1]
    return filename.split("/", 1)[0].removesuffix(".py")


def thread_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) used so far by each thread of this process, by native id."""
    times = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        times[int(task.name)] = (int(fields[11]) + int(fields[12])) / _TICKS
    return times


class CpuSampler:
    def __init__(self, *, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self._previous = None
        self.reset()

    def reset(self) -> None:
        self.samples = 0
        self.cumulative: Counter[str] = Counter()  # samples with the function anywhere on the stack
        self.own: Counter[str] = Counter()  # samples with the function innermost
        self.started = time.monotonic()
        self.cpu_start = thread_cpu_s()

    def _sample(self, signum, frame) -> None:
        stack = []
        while frame is not None:
            stack.append(frame_label(frame.f_code.co_filename, frame.f_code.co_name))
            frame = frame.f_back
        if not stack:
            return
        self.samples += 1
        self.own[stack[0]] += 1
        for label in set(stack):
            self.cumulative[label] += 1

    def start(self) -> None:
        """From the main thread (signal handlers can only be installed there)."""
        self.reset()
        self._previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval_s, self.interval_s)

    def stop(self) -> dict:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        if self._previous is not None:
            signal.signal(signal.SIGPROF, self._previous)
            self._previous = None
        return self.summary()

    def summary(self, *, top: int = 20) -> dict:
        wall = time.monotonic() - self.started
        names = {t.native_id: t.name for t in threading.enumerate()}
        # A forked worker's main thread may still carry the parent's id in `threading`.
        names[os.getpid()] = "MainThread"
        cpu = Counter()
        for tid, seconds in thread_cpu_s().items():
            used = seconds - self.cpu_start.get(tid, 0.0)
            if used > 0:
                cpu[names.get(tid, "other threads")] += used
        total = self.samples or 1
        packages = Counter()
        for label, count in self.own.items():
            packages[package_of(label)] += count
        return {
            "seconds": wall,
            "samples": self.samples,
            # CPU seconds per thread over the pass (MainThread: the event loop).
            "cpu_s": dict(cpu.most_common()),
            "cumulative": [
                (label, count / total)
                for label, count in self.cumulative.most_common()
                if not is_root_frame(label)
            ][:top],
            "self": [(label, count / total) for label, count in self.own.most_common(top)],
            # Self time summed by package: which libraries the CPU went to.
            "packages": [(name, count / total) for name, count in packages.most_common(12)],
        }
