"""Benchmark 5: boundary-policy evaluation, by running ``bench/bench_policy.py`` as it is.

That script (the policy engineers' own benchmark) times ``evaluate`` for a
50-rule policy per (post, destination) and, in the same run, one RSA-2048
signature; each of our runs is one run of the script (its own median of
``--repeats``), and the figures are the medians over our runs.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, Figure, Options

SCRIPT = Path(__file__).resolve().parent / "bench_policy.py"


async def run_policy(options: Options) -> list[Figure]:
    results = []
    for run in range(options.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "policy.json"
            # The script is timed on its own: nothing else runs in this process meanwhile.
            await asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(SCRIPT), "--json", str(out)],
                check=True, cwd=ROOT, capture_output=True,
            )  # fmt: skip
            results.append(json.loads(out.read_text()))
        print(f"  run {run + 1}: evaluate {results[-1]['evaluate_median_us']} µs, "
              f"sign {results[-1]['rsa2048_sign_median_us']} µs")  # fmt: skip
    evaluate = [r["evaluate_median_us"] for r in results]
    sign = [r["rsa2048_sign_median_us"] for r in results]
    rules = results[0]["policy_rules"]
    return [
        Figure("policy", f"evaluate per (activity, destination), {rules} rules", "µs", evaluate,
               "RSA-2048 sign", sign, "≤ 50 µs", target_value_max=50.0,
               note=f"outcome {results[0]['outcome']}; bench/bench_policy.py"),
    ]  # fmt: skip
