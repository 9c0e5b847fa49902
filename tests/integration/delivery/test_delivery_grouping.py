"""group_wait_s: a book's events within the window go out as one message."""

from __future__ import annotations

from monitor.sinks.base import message_for
from tests.integration.delivery.support import (
    FakeSleep,
    Receiver,
    ServiceFactory,
    event,
    events,
    ids_of,
    running,
    webhook_config,
)


async def test_events_of_one_book_within_the_window_go_out_as_one_message(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    main = events(3, book="main")
    hedge = events(2, book="hedge")
    service = make_service(webhook_config(group_wait_s=5.0))
    async with running(service):
        await service.outbox.append([main[0], hedge[0], main[1], hedge[1], main[2]])
        await receiver.wait_accepted(5)
    assert [r.event_ids for r in receiver.accepted] == [ids_of(main), ids_of(hedge)]
    assert fake_sleep.calls == [5.0]
    assert [r.json()["book"] for r in receiver.accepted] == ["main", "hedge"]


async def test_a_group_keeps_its_webhook_id_across_retries(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    batch = events(2)
    receiver.script = [500]
    service = make_service(webhook_config(group_wait_s=1.0))
    async with running(service):
        await service.outbox.append(batch)
        await receiver.wait_accepted(2)
    assert [r.webhook_id for r in receiver.requests] == [message_for(batch).id] * 2


async def test_a_group_is_capped_at_max_group_size(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    batch = events(5)
    service = make_service(webhook_config(group_wait_s=1.0, max_group_size=2))
    async with running(service):
        await service.outbox.append(batch)
        await receiver.wait_accepted(5)
    assert [len(r.event_ids) for r in receiver.accepted] == [2, 2, 1]
    assert receiver.accepted_event_ids() == ids_of(batch)


async def test_an_event_after_the_window_closed_goes_in_the_next_message(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    first, late = event(), event()
    service = make_service(webhook_config(group_wait_s=2.0))
    async with running(service):
        await service.outbox.append([first])
        await receiver.wait_accepted(1)
        await service.outbox.append([late])
        await receiver.wait_accepted(2)
    assert [r.event_ids for r in receiver.accepted] == [[first.id], [late.id]]


async def test_without_group_wait_each_event_is_its_own_message(
    make_service: ServiceFactory, receiver: Receiver, fake_sleep: FakeSleep
) -> None:
    service = make_service(webhook_config())
    async with running(service):
        await service.outbox.append(events(3))
        await receiver.wait_accepted(3)
    assert [len(r.event_ids) for r in receiver.accepted] == [1, 1, 1]
    assert fake_sleep.calls == []
