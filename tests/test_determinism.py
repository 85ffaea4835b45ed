"""The CPU-kernel pin (xstilts.determinism): a phase gives the same weights whatever kernels the
environment asks for, so smoke results are bit-identical on every x86-64 machine with AVX2."""
import json
import os
import subprocess
import sys

import pytest

from xstilts import determinism

# one smoke intermediate run, short, in a fresh process; prints the sha256 of its weights
_PHASE = r"""
import hashlib, json, sys
from pathlib import Path
import xstilts
from xstilts import params, pipeline
import torch
cfg = params.resolve({"intermediate_tasks": ["mnli"], "intermediate_max_steps": 30, "target_task": "xnli",
                      "runs_dir": sys.argv[1]}, scale="smoke")
result = pipeline.run_intermediate(cfg)
digest = hashlib.sha256()
for f in sorted(Path(result["checkpoint"]).glob("*.safetensors")):
    digest.update(f.read_bytes())
print(json.dumps({"sha256": digest.hexdigest(), "aten": torch.backends.cpu.get_cpu_capability()}))
"""

# what another machine (or a user's shell) might ask for: other ATen, MKL and oneDNN code paths
_OTHER_KERNELS = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AUTO", "ONEDNN_MAX_CPU_ISA": "SSE41",
                  "DNNL_MAX_CPU_ISA": "SSE41"}


def _phase(tmp_path, name, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in determinism.PINNED_ENV and k != determinism.OPT_OUT}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _PHASE, str(tmp_path / name)], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not determinism._cpu_has_avx2(), reason="the pin targets x86-64 CPUs with AVX2")
def test_pinned_phase_ignores_the_kernels_the_environment_asks_for(tmp_path):
    normal = _phase(tmp_path, "normal", {})
    other = _phase(tmp_path, "other", _OTHER_KERNELS)
    assert normal["aten"] == other["aten"] == "AVX2"
    assert normal["sha256"] == other["sha256"]
    # control: unpinned, those kernels really give other weights (so the equality above is the pin's)
    native = _phase(tmp_path, "native", dict(_OTHER_KERNELS, XSTILTS_NATIVE_KERNELS="1"))
    assert native["aten"] == "DEFAULT"
    assert native["sha256"] != normal["sha256"]


def test_import_pins_the_environment_of_child_processes():
    code = "import os, xstilts; print(os.environ['ATEN_CPU_CAPABILITY'], os.environ['MKL_CBWR'])"
    env = dict(os.environ, **_OTHER_KERNELS)
    env.pop(determinism.OPT_OUT, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["avx2", "COMPATIBLE"], out.stderr


def test_kernel_state_is_recorded():
    state = determinism.kernel_state()
    assert {"pinned", "aten_cpu_capability", "mkl_cbwr", "threads", "cpu", "cpu_isa",
            "cpu_family_model_stepping"} <= set(state)


def test_cpu_identity_names_the_widest_simd_and_the_model_numbers():
    zen4 = {"vendor_id": "AuthenticAMD", "cpu family": "25", "model": "17", "stepping": "1",
            "flags": "fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16"}
    assert determinism.cpu_identity(zen4) == {"cpu_vendor": "AuthenticAMD", "cpu_family_model_stepping": "25/17/1",
                                             "cpu_isa": "AVX512"}
    zen2 = dict(zen4, model="49", flags="fpu sse2 avx avx2 fma")
    assert determinism.cpu_identity(zen2)["cpu_isa"] == "AVX2"
    sapphire = dict(zen4, vendor_id="GenuineIntel", flags=zen4["flags"] + " amx_tile amx_bf16")
    assert determinism.cpu_identity(sapphire)["cpu_isa"] == "AMX"
    assert determinism.cpu_identity({}) == {"cpu_vendor": None, "cpu_family_model_stepping": None, "cpu_isa": None}


# ---------------------------------------------------------------------------------- xstilts verify
@pytest.mark.slow
def test_verify_reruns_a_run_exactly_and_catches_a_changed_metric(tmp_path, capsys):
    from xstilts import cli, params, pipeline, runs

    cfg = params.resolve({"target_task": "udpos", "target_max_steps": 20, "runs_dir": str(tmp_path / "runs")})
    pipeline.run_target(cfg)
    folder = runs.run_dir(cfg, "target")
    assert cli.main(["verify", str(folder)]) == 0
    assert "identical" in capsys.readouterr().out
    # a committed number that the code does not reproduce is caught, with its size and place
    result = runs.read_json(folder / runs.RESULT)
    result["headline"]["es"] += 0.25
    runs.write_json(folder / runs.RESULT, result)
    assert cli.main(["verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "largest |diff| 0.25" in out and "headline/es" in out


def test_verify_tolerances_by_device_kind():
    from xstilts import verify

    pinned = {"pinned": True, "aten_cpu_capability": "AVX2", "threads": 1, "mkl_cbwr": "COMPATIBLE", "cpu": "AMD"}
    cpu = {"provenance": {"device": "cpu", "kernels": pinned}, "headline": {"de": 50.0}}
    assert verify.compare(cpu, cpu, "r").status == "identical"
    gpu = {"provenance": {"device": "cuda"}, "headline": {"de": 50.3}}
    assert verify.compare(dict(gpu, headline={"de": 50.0}), gpu, "r").status == "within tolerance"
    assert verify.compare(cpu, gpu, "r").status == "not comparable"
    other_threads = {"provenance": {"device": "cpu", "kernels": dict(pinned, threads=2)}, "headline": {"de": 50.1}}
    assert verify.compare(cpu, other_threads, "r").tolerance == verify.UNPINNED_CPU_TOLERANCE
    off = {"provenance": {"device": "cpu", "kernels": pinned}, "headline": {"de": 49.0}}
    assert verify.compare(cpu, off, "r").status == "DIFFERS"
    # portable (COMPATIBLE) runs are exact on another CPU model; fast (AUTO) runs only on the same one
    intel = {"provenance": {"device": "cpu", "kernels": dict(pinned, cpu="Intel")}, "headline": {"de": 50.0}}
    assert verify.compare(cpu, intel, "r").tolerance == 0.0
    fast = dict(pinned, mkl_cbwr="AUTO")
    fast_run = {"provenance": {"device": "cpu", "kernels": fast}, "headline": {"de": 50.0}}
    assert verify.compare(fast_run, fast_run, "r").tolerance == 0.0
    fast_intel = {"provenance": {"device": "cpu", "kernels": dict(fast, cpu="Intel")}, "headline": {"de": 50.0}}
    assert verify.compare(fast_run, fast_intel, "r").tolerance == verify.UNPINNED_CPU_TOLERANCE
    assert verify.compare(cpu, fast_run, "r").tolerance == verify.UNPINNED_CPU_TOLERANCE
    # one model name ("AMD EPYC" in a VM), two microarchitectures: AUTO is not promised to match
    zen4 = dict(fast, cpu_vendor="AuthenticAMD", cpu_family_model_stepping="25/17/1", cpu_isa="AVX512")
    zen2 = dict(zen4, cpu_family_model_stepping="23/49/0", cpu_isa="AVX2")
    run_on = lambda k: {"provenance": {"device": "cpu", "kernels": k}, "headline": {"de": 50.0}}  # noqa: E731
    assert verify.compare(run_on(zen2), run_on(zen4), "r").tolerance == verify.UNPINNED_CPU_TOLERANCE
    assert verify.compare(run_on(zen4), run_on(dict(zen4)), "r").tolerance == 0.0
    # a run from before the CPU's numbers were recorded compares by model name, as it did
    assert verify.compare(fast_run, run_on(zen4), "r").tolerance == 0.0
    assert verify.compare(run_on(dict(zen2, mkl_cbwr="COMPATIBLE")), run_on(dict(zen4, mkl_cbwr="COMPATIBLE")),
                          "r").tolerance == 0.0


# cpu_kernels: MKL's CNR branch per run. MKL fixes its branch at its first call, so each case runs
# in a fresh process.
_BRANCH = r"""
import json, sys
import xstilts
from xstilts import determinism
import torch
before = determinism.mkl_branch()
if sys.argv[1] == "compute-first":
    torch.randn(8, 8) @ torch.randn(8, 8)
try:
    determinism.use(sys.argv[2])
    error = None
except determinism.KernelModeError as e:
    error = str(e)
print(json.dumps({"before": before, "after": determinism.mkl_branch(), "error": error,
                  "state": determinism.kernel_state()["mkl_cbwr"]}))
"""


def _branch(*args, mode=None):
    env = {k: v for k, v in os.environ.items() if k not in determinism.PINNED_ENV and k not in
           (determinism.OPT_OUT, determinism.MODE_ENV)}
    if mode:
        env[determinism.MODE_ENV] = mode
    out = subprocess.run([sys.executable, "-c", _BRANCH, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cpu_kernels_choose_the_mkl_branch():
    if determinism.mkl_branch() is None:
        pytest.skip("this torch build has no MKL")
    # the default (smoke) is portable: COMPATIBLE; `xstilts run` exports fast for offline/full grids
    assert _branch("no-op", "portable")["before"] == "COMPATIBLE"
    fast = _branch("no-op", "fast", mode="fast")
    assert fast["before"] == fast["after"] == fast["state"] == "AUTO" and fast["error"] is None
    # a fresh process (a new JupyterLab kernel) switches before its first GEMM
    switched = _branch("no-op", "fast")
    assert (switched["before"], switched["after"], switched["error"]) == ("COMPATIBLE", "AUTO", None)
    # a process that already computed with the other branch cannot: a clear error, nothing run
    refused = _branch("compute-first", "fast")
    assert refused["after"] == "COMPATIBLE" and "Restart the kernel" in refused["error"]
    assert "cpu_kernels: fast" in refused["error"]


def test_one_run_command_shares_one_cpu_kernels_value(tmp_path):
    from xstilts import params as P
    from xstilts import workflow

    grid = tmp_path / "mixed.yaml"
    grid.write_text("grid: {target_task: [udpos], intermediate_tasks: [[]]}\nseeds: {smoke: [0]}\n"
                    "runs:\n  - {target_task: xnli, cpu_kernels: fast}\n")
    the_plan = workflow.plan([str(grid)], "smoke", str(tmp_path))
    with pytest.raises(P.ParamsError, match="share cpu_kernels"):
        workflow.kernel_mode(the_plan)
    assert workflow.kernel_mode(workflow.plan([str(grid)], "smoke", str(tmp_path))
                                | {"jobs": {}}) == "portable"
