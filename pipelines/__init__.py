"""Dagster orchestration over the NoScope engine (``noscope_core``): one partition per camera."""
