"""How a call's texts are split into model calls: by length, so that short texts are not padded to long ones."""

from __future__ import annotations

from collections.abc import Sequence

# What one more model call costs, in padded tokens. At batch 32 on real reviews (2 threads, AVX2) overheads from
# 8 to 128 tokens all ran 3.4-4.0× faster than one padded call for a 2×128 and a 2×256 student, 32-64 the
# fastest by a little (benchmarks/results/runtime.md); the cost per call in tokens is larger for smaller models.
CALL_OVERHEAD_TOKENS = 64
# On a GPU a call at a sequence length the process has not met yet is slow (the first H100 run's batch-1 p90 was
# 15-20× its median over real texts, one repeated length stayed within 1.3×): GPU calls are padded to a few
# length buckets.
GPU_LENGTH_MULTIPLE = 32


def gpu_length_multiple(device: str) -> int | None:
    """The length bucket of a device's calls: GPU_LENGTH_MULTIPLE on a GPU, None (no buckets) on the CPU."""
    return GPU_LENGTH_MULTIPLE if device != "cpu" else None


def bucket_width(longest: int, multiple: int | None, cap: int) -> int:
    """The padded width of a call whose longest row is `longest`: rounded up to a multiple of `multiple` (None:
    not rounded), at most `cap`."""
    if not multiple:
        return longest
    return min(-(-longest // multiple) * multiple, max(cap, longest))


def length_batches(
    lengths: Sequence[int], batch_size: int, overhead: int = CALL_OVERHEAD_TOKENS
) -> list[tuple[int, int]]:
    """[start, end) runs of `lengths` (sorted ascending) that minimise padded tokens + `overhead` per run.

    A run holds at most `batch_size` texts and is padded to its last (longest) one. Fixed-size chunks pad a
    batch of mostly short texts to its one long outlier; here the outlier gets a smaller run of its own when
    that is cheaper. Exact dynamic programming over the sorted lengths: O(len(lengths) × batch_size).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    count = len(lengths)
    best = [0] * (count + 1)  # best[end]: cheapest cost of lengths[:end]
    cut = [0] * (count + 1)  # where the last run of that cheapest split starts
    for end in range(1, count + 1):
        width = lengths[end - 1]
        best[end], cut[end] = min(
            (best[start] + (end - start) * width + overhead, start) for start in range(max(0, end - batch_size), end)
        )
    runs = []
    end = count
    while end > 0:
        runs.append((cut[end], end))
        end = cut[end]
    return runs[::-1]
