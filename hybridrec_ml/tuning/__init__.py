"""Hyper-parameter studies over registry variants: search spaces, objectives, Pareto selection (Optuna)."""
