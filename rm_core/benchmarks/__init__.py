"""Public reward-model benchmarks (RewardBench 2, RM-Bench, JudgeBench): loaders for the real
sources and local files, what a judge reads per item, and each benchmark's own scoring."""

from rm_core.benchmarks.items import BENCHMARKS, BenchmarkError, BenchmarkItem, BenchmarkSet
from rm_core.benchmarks.loaders import load_benchmark
from rm_core.benchmarks.scoring import BenchmarkScore, score

__all__ = ["BENCHMARKS", "BenchmarkError", "BenchmarkItem", "BenchmarkScore", "BenchmarkSet",
           "load_benchmark", "score"]
