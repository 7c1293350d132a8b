"""Data domain: the ingest, the derived warehouse tables, the RecBole export, their checks, data_job and the source sensor."""
