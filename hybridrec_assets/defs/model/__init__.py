"""Model domain: trained_model per (variant, seed), the gate-collapse check, variant_job and the weekly retrain."""
