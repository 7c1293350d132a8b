"""Diagnosis domain (issue 14): why the gate collapses — per-partition gate diagnosis and its report."""
