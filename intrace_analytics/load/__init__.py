"""A whole load: the incident passes, reconciliation, the per-site reads, the load report and
progress.
"""
