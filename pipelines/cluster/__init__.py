"""The distributed stack on one machine: PostgreSQL, Redis, SeaweedFS S3, the MLflow server, the Dagster daemon and
webserver, Celery workers and their watchdog, started and stopped by the project (``python -m pipelines.cluster
up|down|status|check|gc``).

Nothing here changes what the pipeline computes: the stack only hands the code location another environment
(``ClusterConfig.client_env``).
"""
