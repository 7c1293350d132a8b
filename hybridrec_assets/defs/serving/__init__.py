"""Serving domain: recommendations per (variant, seed); the HTTP service is `hybridrec_assets.serve`."""
