"""Which training profile a run uses: its Dagster config, else $HYBRIDREC_PROFILE, else `demo`."""

import os

PROFILE_ENV = "HYBRIDREC_PROFILE"


def run_profile(configured: str | None) -> str:
    """The profile name (hybridrec_ml.config.PROFILES checks it when it is applied)."""
    return configured or os.environ.get(PROFILE_ENV, "demo")
