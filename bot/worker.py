"""Work that holds Python's lock for long runs in a worker process: drawing charts, the network's
figures.

A chart takes matplotlib about a tenth of a second, and networkx's centralities longer, all of it
holding Python's global lock. Run in a thread, that stalls everything else in the process: the
writer storing chat and the quick commands need the lock in many short turns, and each turn
waits for the drawing thread to let it go. In a process of its own the work takes a core, not the
lock. One worker is started at the first such job and kept (starting it costs matplotlib's import
once); it is started fresh (not forked), as the process has threads running, and it ends with
Trellis, even when Trellis is killed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None


async def run_in_worker(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``work(*args, **kwargs)`` in the worker process. ``work`` is a module's function and the
    arguments are picklable. A worker that died (the kernel ended it for memory, an operator's
    kill) is replaced, and the work tried once more in the new one."""
    loop = asyncio.get_running_loop()
    job = functools.partial(work, *args, **kwargs)
    try:
        return await loop.run_in_executor(_worker(), job)
    except BrokenProcessPool:
        log.warning("the worker process for charts ended; starting another")
        _forget_worker()
        return await loop.run_in_executor(_worker(), job)


def prepare_worker() -> None:
    """Start the worker now, and its imports in it (a service, once up): the first chart a
    facilitator asks for then does not wait for them (half a second and more)."""
    _worker().submit(_import_drawing)


def _import_drawing() -> None:
    import bot.monitoring.charts  # noqa: F401 (matplotlib's and networkx's import, in the worker)


def _worker() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_end_with,
            initargs=(os.getpid(),),
        )
    return _pool


def _end_with(parent: int) -> None:
    """In the worker: end when ``parent`` does. A parent killed with SIGKILL cannot tell it, and
    the worker would live on, an orphan holding matplotlib's memory."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="trellis-watch-parent", daemon=True).start()


def _forget_worker() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
