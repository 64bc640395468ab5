"""The merge check used by `finetune export --merge`: the saved merged model must give the adapter model's
outputs on a probe batch, and the adapter must change the base model's outputs (else the merge is a no-op).
"""

from __future__ import annotations

from typing import Any

from finetune.errors import RunFolderError

# float32 on CPU: merging W + (alpha/r) * B @ A reorders a few additions; observed differences are ~1e-6.
TOLERANCE = 1e-4


def max_abs_diff(a: Any, b: Any) -> float:
    return float((a.float() - b.float()).abs().max().item())


def check_merge(adapter_out: Any, merged_out: Any, base_out: Any, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Raises RunFolderError unless merged == adapter (within tolerance) and adapter != base."""
    merged_diff = max_abs_diff(adapter_out, merged_out)
    effect = max_abs_diff(adapter_out, base_out)
    report = {
        "probe_size": int(adapter_out.shape[0]),
        "max_abs_diff_merged_vs_adapter": merged_diff,
        "max_abs_diff_adapter_vs_base": effect,
        "tolerance": tolerance,
    }
    if effect <= tolerance:
        raise RunFolderError(
            f"the adapter does not change the base model's outputs (max difference {effect:.2e} <= "
            f"{tolerance}); "
            "merging would silently produce the base model. Was the run trained (adapter weights non-zero)?"
        )
    if merged_diff > tolerance:
        raise RunFolderError(
            f"the merged model differs from the adapter model by {merged_diff:.2e} (> {tolerance}) on the "
            "probe "
            "batch; not exporting. Report this with the run's manifest.json."
        )
    report["equivalent"] = True
    return report
