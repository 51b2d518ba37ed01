"""Pure functions over frames: status, survival (as-of, Kaplan-Meier), sites and data quality."""
