"""Rates with their 95% Wilson score interval (sound for small n and rates near 0 or 1)."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(knowers: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n <= 0:
        raise ValueError("n must be positive")
    p = knowers / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
