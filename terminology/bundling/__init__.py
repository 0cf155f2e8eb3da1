"""Bundling check engine (`$bundling-check`): NCCI PTP/MUE, CPT combined codes, plain Python."""
