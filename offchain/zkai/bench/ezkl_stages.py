"""The child side of the ezkl baseline: each ezkl stage, run in its own interpreter
(`python -m zkai.bench.ezkl_baseline --stage REQUEST`), which reports its own peak RSS and leaves
with `os._exit` (ezkl's async runtime can crash the interpreter at normal shutdown).

Nothing but the standard library and ezkl is imported here, so a stage child holds only Python
and ezkl.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from zkai.errors import BenchmarkError

__all__ = ["STAGES", "STAGE_FLAG", "run_stage_request"]

# `python -m zkai.bench.ezkl_baseline --stage REQUEST` runs one stage.
STAGE_FLAG = "--stage"

JSONDict = dict[str, Any]


def _stage_settings(args: JSONDict) -> JSONDict:
    import ezkl

    run_args = ezkl.PyRunArgs()
    # PyRunArgs' attributes are missing from ezkl's type stubs, hence setattr.
    for name, value in args["run_args"].items():
        setattr(run_args, name, value)
    if not ezkl.gen_settings(args["model"], args["settings"], py_run_args=run_args):
        raise BenchmarkError("ezkl gen_settings returned false")
    if not args.get("calibrate", True):
        # ezkl's own defaults: gen_settings alone, no calibration.
        if not ezkl.compile_circuit(args["model"], args["compiled"], args["settings"]):
            raise BenchmarkError("ezkl compile_circuit returned false")
        return {}
    scales = args["calibration_scales"]
    if not ezkl.calibrate_settings(
        args["input"],
        args["model"],
        args["settings"],
        "resources",
        2.0,
        scales,
        [1],
        None,
    ):
        raise BenchmarkError("ezkl calibrate_settings returned false")
    if not ezkl.compile_circuit(args["model"], args["compiled"], args["settings"]):
        raise BenchmarkError("ezkl compile_circuit returned false")
    return {}


def _stage_srs(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    ezkl.gen_srs(args["srs"], args["logrows"])
    return {"ms": (time.perf_counter() - started) * 1000}


def _stage_setup(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    if not ezkl.setup(args["compiled"], args["vk"], args["pk"], args["srs"], None, False):
        raise BenchmarkError("ezkl setup returned false")
    return {"ms": (time.perf_counter() - started) * 1000}


def _stage_witness(args: JSONDict) -> JSONDict:
    import ezkl

    ezkl.gen_witness(args["input"], args["compiled"], args["witness"], None, None)
    # The returned dict lacks the rescaled (model-scale) values that the file carries.
    rows = json.loads(Path(args["witness"]).read_text())["pretty_elements"]["rescaled_outputs"]
    return {"outputs": [float(value) for row in rows for value in row]}


def _stage_prove(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    ezkl.prove(args["witness"], args["compiled"], args["pk"], args["proof"], args["srs"])
    return {"ms": (time.perf_counter() - started) * 1000}


def _stage_verify(args: JSONDict) -> JSONDict:
    import ezkl

    started = time.perf_counter()
    try:
        verified = ezkl.verify(args["proof"], args["settings"], args["vk"], args["srs"], False)
        reason = ""
    except RuntimeError as exc:  # ezkl raises on a proof it rejects
        verified, reason = False, str(exc)
    return {
        "ms": (time.perf_counter() - started) * 1000,
        "verified": bool(verified),
        "reason": reason,
    }


def _stage_evm_verifier(args: JSONDict) -> JSONDict:
    import asyncio

    import ezkl

    async def create() -> Any:
        # Its future needs a running event loop at call time.
        return await ezkl.create_evm_verifier(
            args["vk"], args["settings"], args["sol"], args["abi"], args["srs"], False
        )

    if not asyncio.run(create()):
        raise BenchmarkError("ezkl create_evm_verifier returned false")
    calldata = ezkl.encode_evm_calldata(args["proof"], args["calldata"], None)
    return {"calldata_bytes": len(calldata)}


STAGES: dict[str, Callable[[JSONDict], JSONDict]] = {
    "settings": _stage_settings,
    "srs": _stage_srs,
    "setup": _stage_setup,
    "witness": _stage_witness,
    "prove": _stage_prove,
    "verify": _stage_verify,
    "evm_verifier": _stage_evm_verifier,
}


def _own_peak_rss_kib() -> int | None:
    """This process's resident-set high-water mark since exec, in KiB (Linux), else None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_stage_request(request_path: Path) -> NoReturn:
    """Child side: run one stage, write its result file, and leave without interpreter exit."""
    request = json.loads(request_path.read_text())
    try:
        payload: JSONDict = {"ok": True, "result": STAGES[request["stage"]](request["args"])}
        payload["peak_rss_kib"] = _own_peak_rss_kib()
        code = 0
    except Exception as exc:  # the parent turns this into a BenchmarkError with the log
        payload, code = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 1
    Path(request["result"]).write_text(json.dumps(payload))
    sys.stdout.flush()
    sys.stderr.flush()
    # ezkl's async runtime can crash the interpreter during normal shutdown.
    os._exit(code)
