"""Warm kernels: a local `xstilts run` executes many phase notebooks per Jupyter kernel.

At smoke scale a run computes for ~3 s inside ~15 s of start-up (a process, papermill, a kernel,
importing torch and transformers). `xstilts run` therefore starts a `Pool` of kernels that have
imported the pipeline once, and listens on a Unix socket; each Snakemake job (still one job per
run, with its declared inputs and outputs) sends its notebook, output path and parameters there
and waits. papermill executes the notebook in a warm kernel exactly as it would in a new one
(same parameter injection, same executed notebook kept as the run's log), after `fresh_state()`
has reset what a notebook can leave behind: the user namespace, the working directory, environment
variables, torch's thread count and grad mode, matplotlib's figures and rcParams, warning filters.
Every run seeds its own RNGs (`pipeline.seed_everything`); a kernel in which a notebook failed is
replaced by a new one. Without the socket (a SLURM job, a job run by hand) the job starts its own
kernel as before: `workflow.execute_notebook`; so do the analysis notebooks, whose figures and
tables are compared byte for byte with a notebook run by hand (`--new-kernel` in the Snakefile).
"""
from __future__ import annotations

import gc
import json
import logging
import os
import queue
import signal
import socket
import socketserver
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

SOCKET_ENV = "XSTILTS_WARM_SOCKET"
# the environment variables that change a fresh kernel's numbers (Snakemake sets them per job from
# the rule's `threads`); a kernel is started with the job's values, and restarted if they differ
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]  # ipykernel warns at each start that its local TCP link is unencrypted
WARM_UP = "import xstilts.warm as _warm; _warm.warm_up(); del _warm"
# a new session also numbers the next notebook's cells from 1, as in a new kernel
RESET = "get_ipython().reset(new_session=True); import xstilts.warm as _warm; _warm.fresh_state(); del _warm"


class JobFailed(Exception):
    """A notebook raised, or its kernel died; the message is what the user should read first."""


# ------------------------------------------------------------------ inside a kernel
_START: dict = {}


def warm_up() -> None:
    """Import what every phase notebook imports, and record the state of a kernel that has just started."""
    import matplotlib
    import matplotlib.pyplot  # noqa: F401  (selects the inline backend, as a notebook's first plot does)
    import torch

    from xstilts import params, phase_notebook, pipeline, report  # noqa: F401

    _START.update(cwd=os.getcwd(), environ=dict(os.environ), threads=torch.get_num_threads(),
                  rc=dict(matplotlib.rcParams), filters=list(warnings.filters))


def fresh_state() -> None:
    """Put back what the last notebook may have changed (the user namespace is reset before this)."""
    import matplotlib
    import matplotlib.pyplot as plt
    import torch

    os.chdir(_START["cwd"])
    os.environ.clear()
    os.environ.update(_START["environ"])
    torch.set_num_threads(_START["threads"])
    torch.set_grad_enabled(True)
    plt.close("all")
    with warnings.catch_warnings():  # some rcParams are deprecated aliases and warn when set
        warnings.simplefilter("ignore")
        matplotlib.rcParams.update(_START["rc"])
    warnings.filters[:] = _START["filters"]
    warnings._filters_mutated()  # forget which warnings were shown: a new kernel shows them again
    logging.getLogger("xstilts").handlers.clear()
    gc.collect()


# ------------------------------------------------------------------ the pool (in `xstilts run`)
def _papermill():
    """papermill, with an engine that executes in a kernel it is given instead of starting one."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  (see workflow.execute_notebook)
    import papermill
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class WarmClient(PapermillNotebookClient):
        def __init__(self, nb_man, kernel: "Kernel", **kw):
            super().__init__(nb_man, km=kernel.km, **kw)
            self.kc = kernel.kc  # a client given: nbclient neither starts nor stops the kernel

    class WarmEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, warm_kernel=None, log_output=False,
                                     start_timeout=60, **kwargs):
            return WarmClient(nb_man, warm_kernel, kernel_name=kernel_name, log=logging.getLogger("papermill"),
                              log_output=log_output, startup_timeout=start_timeout).execute()

    if "xstilts-warm" not in papermill_engines._engines:
        papermill_engines.register("xstilts-warm", WarmEngine)
    logging.getLogger("papermill").setLevel(logging.ERROR)  # it warns about every injected key
    return papermill


class Kernel:
    """One warm kernel; used by one thread only (its asyncio loop is that thread's)."""

    def __init__(self, cwd: str, env: dict):
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self._run_sync = run_sync
        self.env_key = tuple(env.get(k) for k in THREAD_VARS)
        self.km = AsyncKernelManager(kernel_name="python3")
        run_sync(self.km.start_kernel)(cwd=cwd, env=env, extra_arguments=KERNEL_ARGS)
        self.pid = self.km.provisioner.pid  # the leader of the kernel's own process group
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=120)
        self.run_code(WARM_UP)

    def run_code(self, code: str) -> None:
        reply = self._run_sync(self.kc.execute_interactive)(code, store_history=False, allow_stdin=False,
                                                            timeout=300, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise JobFailed(f"the warm kernel could not run {code!r}: {reply['content'].get('evalue')}")

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self._run_sync(self.km.shutdown_kernel)(now=True)

    def kill(self) -> None:
        """From another thread: stop a kernel that is still executing (`xstilts run` interrupted)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Pool:
    """`size` warm kernels serving notebook jobs sent to a Unix socket (`SOCKET_ENV`)."""

    def __init__(self, size: int, cwd: str, env: dict, thread_env: dict):
        """`env`: the jobs' environment; `thread_env`: the THREAD_VARS Snakemake will give them (the
        kernels start with these at once, while Snakemake plans)."""
        self.cwd, self.env, self.thread_env = cwd, dict(env), dict(thread_env)
        self.jobs: queue.Queue = queue.Queue()
        self.kernels: dict[str, Kernel] = {}  # thread name -> its kernel, for close()
        self.folder = tempfile.mkdtemp(prefix="xstilts-warm-")  # short: Unix socket paths are limited to ~100 bytes
        self.socket_path = os.path.join(self.folder, "socket")
        pool = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                request = json.loads(self.rfile.readline())
                answer: queue.Queue = queue.Queue(maxsize=1)
                pool.jobs.put((request, answer))
                self.wfile.write((json.dumps(answer.get()) + "\n").encode())

        self.server = socketserver.ThreadingUnixStreamServer(self.socket_path, Handler)
        self.server.daemon_threads = True
        self.threads = [threading.Thread(target=self._serve, daemon=True, name=f"warm-kernel-{i}") for i in range(size)]
        self.threads.append(threading.Thread(target=self.server.serve_forever, daemon=True, name="warm-socket"))
        for t in self.threads:
            t.start()

    def _kernel_env(self, thread_env: dict) -> dict:
        env = {k: v for k, v in self.env.items() if k not in THREAD_VARS}
        return dict(env, **{k: v for k, v in thread_env.items() if v is not None})

    def _start(self, env: dict) -> Kernel:
        kernel = Kernel(self.cwd, env)
        self.kernels[threading.current_thread().name] = kernel
        return kernel

    @staticmethod
    def _discard(kernel: Kernel | None) -> None:
        if kernel is not None:
            try:
                kernel.shutdown()
            except Exception:  # noqa: BLE001  (a dead kernel cannot be shut down cleanly)
                kernel.kill()

    def _serve(self) -> None:
        papermill = _papermill()
        try:
            kernel = self._start(self._kernel_env(self.thread_env))
        except Exception:  # noqa: BLE001  (the first job will try again, and report why it cannot)
            kernel = None
        while (job := self.jobs.get()) is not None:
            request, answer = job
            try:
                env = self._kernel_env(request["thread_env"])
                if kernel is not None and kernel.env_key == tuple(env.get(k) for k in THREAD_VARS):
                    try:
                        kernel.run_code(RESET)
                    except Exception:  # noqa: BLE001  (a kernel that cannot reset is replaced, not blamed on the job)
                        kernel = self._discard(kernel)
                elif kernel is not None:
                    kernel = self._discard(kernel)
                if kernel is None:
                    kernel = self._start(env)
                papermill.execute_notebook(request["notebook"], request["output"], parameters=request["parameters"],
                                           engine_name="xstilts-warm", warm_kernel=kernel, kernel_name="python3",
                                           progress_bar=False)
                answer.put({"ok": True})
            except Exception as err:  # noqa: BLE001  (any failure is the job's: report it, replace the kernel)
                answer.put({"ok": False, "error": error_head(err)})
                kernel = self._discard(kernel)
        if kernel is not None:
            kernel.shutdown()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for _ in self.threads[:-1]:
            self.jobs.put(None)
        deadline = time.monotonic() + 10
        for t in self.threads[:-1]:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
            if t.is_alive() and t.name in self.kernels:  # still executing a notebook nobody waits for
                self.kernels[t.name].kill()
        Path(self.socket_path).unlink(missing_ok=True)
        os.rmdir(self.folder)


def error_head(err: Exception, lines: int = 6) -> str:
    """The first lines a user needs: the exception's type and message (papermill's or any other)."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"
    return "\n".join(text.strip().splitlines()[:lines])


# ------------------------------------------------------------------ in a job
def request(socket_path: str, notebook: str, output: str, parameters: dict) -> None:
    """Execute a notebook in the pool's warm kernel; raises JobFailed with the error's first lines."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(socket_path)
        message = {"notebook": notebook, "output": str(Path(output).resolve()), "parameters": parameters,
                   "thread_env": {k: os.environ.get(k) for k in THREAD_VARS}}
        conn.sendall((json.dumps(message) + "\n").encode())
        reply = json.loads(conn.makefile("rb").readline() or b'{"ok": false, "error": "the warm kernel pool closed"}')
    if not reply["ok"]:
        raise JobFailed(reply["error"])
