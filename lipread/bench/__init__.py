"""The benchmark behind `lipread bench`: each side's pipeline measured (pipelines), and
the side-by-side report (report)."""
