"""The Celery app's configuration: each choice the design depends on, pinned."""

from __future__ import annotations

from worker.app import BULK_QUEUE, INTERACTIVE_QUEUE, app


def test_json_only_and_late_acks() -> None:
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1


def test_one_visibility_timeout_for_broker_and_results() -> None:
    broker = app.conf.broker_transport_options["visibility_timeout"]
    results = app.conf.result_backend_transport_options["visibility_timeout"]
    assert broker == results
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"
    assert app.conf.task_time_limit < broker


def test_events_on_for_flower() -> None:
    assert app.conf.worker_send_task_events is True
    assert app.conf.task_send_sent_event is True


def test_queues_have_their_own_exchanges_and_interactive_comes_first() -> None:
    queues = list(app.conf.task_queues)
    assert [q.name for q in queues] == [INTERACTIVE_QUEUE, BULK_QUEUE]
    for queue in queues:
        assert queue.exchange.name == queue.name
        assert queue.routing_key == queue.name


def test_routes() -> None:
    router = app.amqp.router
    assert router.route({}, "courier.resend_confirmation_code")["queue"].name == "interactive"
    assert router.route({}, "courier.campaign_chunk")["queue"].name == "bulk"


def test_threads_pool_sized_from_the_budget() -> None:
    assert app.conf.worker_pool == "threads"
    assert app.conf.worker_concurrency >= 4


def test_task_names_are_readable() -> None:
    app.loader.import_default_modules()
    assert "courier.resend_confirmation_code" in app.tasks
    assert "courier.get_user_attribute_verification_code" in app.tasks


def test_every_worker_runs_the_watchdog() -> None:
    from worker.liveness.watchdog import Watchdog

    assert Watchdog in app.steps["worker"]
