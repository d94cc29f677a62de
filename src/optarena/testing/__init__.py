"""Contract suites and toy problems, shipped in the package so plugins can run the same checks."""
