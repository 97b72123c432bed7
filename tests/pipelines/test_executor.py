"""The executor is chosen by NOSCOPE_EXECUTOR; the queue tags route labelling and training on Celery."""

import pytest

from noscope_core.common.errors import QueryError
from pipelines.executor import QUEUE_TAG, job_executor, queue_tags


def test_default_is_dagsters_own_executor():
    assert job_executor("") is None and job_executor("in_process") is None


@pytest.mark.cluster  # needs the cluster extra (dagster-celery), which make test installs (cluster/install.sh)
def test_celery_executor_takes_broker_and_backend_from_the_environment(monkeypatch):
    monkeypatch.setenv("NOSCOPE_CELERY_BROKER", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("NOSCOPE_CELERY_BACKEND", "redis://127.0.0.1:1/1")
    ex = job_executor("celery")
    assert ex.name == "celery_executor"


def test_unknown_executor_is_refused():
    with pytest.raises(QueryError, match="NOSCOPE_EXECUTOR"):
        job_executor("spark")


def test_labelling_and_training_have_queues_of_their_own():
    from pipelines.assets import reference_labels, specialized_models

    assert queue_tags("decoded_frames") == {}
    assert reference_labels.op.tags[QUEUE_TAG] == "labelling"
    assert specialized_models.op.tags[QUEUE_TAG] == "training"
