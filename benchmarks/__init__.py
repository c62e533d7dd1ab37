"""jahs-bo benchmarks: problems on shipped data, harness, report (not part of the package)."""
