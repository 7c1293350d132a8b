"""HybridRec's Dagster layer: thin assets over hybridrec_ml. `dagster ... -m hybridrec_assets` loads `defs`."""

from hybridrec_assets.definitions import defs

__all__ = ["defs"]
