"""The outcome of a run as data: typed records, the results file, merge and diff."""
