"""Measurements of the product in lipread/, kept beside it (never imported by it): speed
side by side with the LipNet tutorial, cold starts, install sizes, the Live page. Run
`python -m benchmarks --help` from the repository's root; README.md says what each
measures."""
