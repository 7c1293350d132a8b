"""Reporting domain: the results report and report_job."""
