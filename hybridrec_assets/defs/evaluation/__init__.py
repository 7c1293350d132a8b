"""Evaluation domain: evaluation and segment_report per (variant, seed)."""
