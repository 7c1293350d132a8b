"""Tuning domain: lambda_pareto, the Optuna study of v2's (λ_ent, λ_bal, gate init std)."""
