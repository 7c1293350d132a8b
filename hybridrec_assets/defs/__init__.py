"""The Dagster definitions by domain: data, model, evaluation, reporting; each holds its assets, checks and jobs."""
