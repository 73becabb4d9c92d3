"""audit_context(): nesting, baggage, threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from azure.ai.vision.imageanalysis.aio import ImageAnalysisClient as AsyncClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from opentelemetry import baggage, context
from vision_audit import AuditContext, audit_context, get_audit_context
from vision_audit.testing import make_test_image

TAGS = [VisualFeatures.TAGS]


class TestAuditContext:
    """The values in force, and how blocks combine."""

    def test_outside_any_block(self) -> None:
        """Nothing set: an empty context."""
        assert AuditContext() == get_audit_context()

    def test_nesting(self) -> None:
        """Inner blocks override what they set, inherit the rest, and unwind."""
        with audit_context(purpose="claims", actor="svc", region="eu"):
            with audit_context(actor="adjuster-7", claim="1042") as inner:
                seen = get_audit_context()
            after = get_audit_context()

        assert inner == seen
        assert ("claims", "adjuster-7") == (seen.purpose, seen.actor)
        assert {"region": "eu", "claim": "1042"} == dict(seen.labels)
        assert "svc" == after.actor
        assert AuditContext() == get_audit_context()

    def test_baggage(self) -> None:
        """An upstream service's baggage is read; blocks win over it."""
        ctx = baggage.set_baggage("vision_audit.purpose", "retail")
        ctx = baggage.set_baggage("vision_audit.consent_ref", "c-9", ctx)
        ctx = baggage.set_baggage("vision_audit.label.store", "0042", ctx)
        token = context.attach(ctx)
        try:
            upstream = get_audit_context()
            with audit_context(purpose="override"):
                overridden = get_audit_context()
        finally:
            context.detach(token)

        assert ("retail", "c-9") == (upstream.purpose, upstream.consent_ref)
        assert {"store": "0042"} == dict(upstream.labels)
        assert ("override", "c-9") == (overridden.purpose, overridden.consent_ref)

    def test_hostile_baggage_is_bounded(self) -> None:
        """Long or unprintable values and a flood of labels are not taken."""
        ctx = baggage.set_baggage("vision_audit.purpose", "p" * 5000)
        ctx = baggage.set_baggage("vision_audit.actor", "evil\x1b[31m\nline", ctx)
        ctx = baggage.set_baggage("vision_audit.consent_ref", "c-9", ctx)
        for n in range(200):
            ctx = baggage.set_baggage(f"vision_audit.label.k{n:03}", "v", ctx)
        token = context.attach(ctx)
        try:
            upstream = get_audit_context()
        finally:
            context.detach(token)

        assert (None, None, "c-9") == (
            upstream.purpose,
            upstream.actor,
            upstream.consent_ref,
        )
        assert [f"k{n:03}" for n in range(16)] == sorted(upstream.labels)

    @pytest.mark.parametrize("setting", ["keyword", "environment"])
    def test_baggage_can_be_ignored(
        self, instrument, client, store, monkeypatch, setting: str
    ) -> None:
        """``baggage=False``: facts come from blocks only, never from baggage."""
        if setting == "keyword":
            instrument(baggage=False)
        else:
            monkeypatch.setenv("VISION_AUDIT_BAGGAGE", "false")
            instrument()
        ctx = baggage.set_baggage("vision_audit.purpose", "from-outside")
        ctx = baggage.set_baggage("vision_audit.consent_ref", "c-forged", ctx)
        token = context.attach(ctx)
        try:
            with audit_context(actor="svc"):
                client.analyze(image_data=make_test_image(), visual_features=TAGS)
        finally:
            context.detach(token)

        requested = store.records[0].event
        assert (None, None, "svc") == (
            requested.purpose,
            requested.consent_ref,
            requested.actor,
        )

    def test_label_must_be_text(self) -> None:
        """Labels are strings; anything else is refused, by name."""
        with pytest.raises(TypeError, match="'count'"):
            audit_context(count=3)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("fact", "value"),
        [("purpose", 123), ("consent_ref", 1042), ("subject_ref", {"id": 1}),
         ("actor", ["a"])],
    )  # fmt: skip
    def test_facts_must_be_text(self, fact: str, value: object) -> None:
        """A fact that is not a string is refused where it is given, by name."""
        with pytest.raises(TypeError, match=f"audit_context {fact} must be a string"):
            audit_context(**{fact: value})  # type: ignore[arg-type]

    def test_async_with(self) -> None:
        """``async with`` works the same."""

        async def run() -> str | None:
            async with audit_context(purpose="batch"):
                return get_audit_context().purpose

        assert "batch" == asyncio.run(run())


class TestIsolation:
    """16 threads and 100 asyncio tasks at once, each with its own context."""

    def test_threads(self, instrumented, client, store) -> None:
        """Each thread's calls carry its own subject and purpose, never another's."""
        barrier = threading.Barrier(16)
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                with audit_context(purpose=f"p{n}", subject_ref=f"s{n}", actor=f"a{n}"):
                    barrier.wait()
                    for _ in range(3):
                        client.analyze(
                            image_data=make_test_image(seed=n), visual_features=TAGS
                        )
            except BaseException as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert [] == errors
        assert 16 * 3 * 2 == len(store.records)
        by_analysis: dict[str, set[tuple[str | None, str | None]]] = {}
        for record in store.records:
            event = record.event
            assert event.purpose == f"p{event.actor[1:]}"
            by_analysis.setdefault(event.analysis_id, set()).add(
                (event.purpose, event.subject_ref)
            )
        assert all(1 == len(v) for v in by_analysis.values())
        assert 16 == len({e.event.subject_ref for e in store.records})

    def test_asyncio_tasks(self, instrumented, emulator, emulator_key, store) -> None:
        """100 concurrent tasks on one aio client keep their contexts apart."""

        async def one(client: AsyncClient, n: int) -> None:
            async with audit_context(purpose=f"p{n}", actor=f"a{n}"):
                await asyncio.sleep(0)
                await client.analyze(
                    image_data=make_test_image(seed=n % 7), visual_features=TAGS
                )

        async def run() -> None:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                await asyncio.gather(*(one(client, n) for n in range(100)))

        asyncio.run(run())

        assert 200 == len(store.records)
        for record in store.records:
            assert record.event.purpose == f"p{record.event.actor[1:]}"
        assert 100 == len({r.event.analysis_id for r in store.records})

    def test_one_block_object_shared_by_threads(self) -> None:
        """One audit_context object entered by many threads at once: none mixed."""
        shared = audit_context(purpose="shared", actor="pool")
        barrier = threading.Barrier(8)
        seen: list[tuple[str | None, str | None]] = []
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                with audit_context(actor=f"t{n}"), shared:
                    barrier.wait(timeout=10)
                    context = get_audit_context()
                    seen.append((context.purpose, context.actor))
                    barrier.wait(timeout=10)
                after = get_audit_context()
                seen.append((after.purpose, after.actor))
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert [] == errors
        assert 8 == seen.count(("shared", "pool"))
        assert 8 == seen.count((None, None))

    def test_one_block_object_shared_by_tasks(self) -> None:
        """The same in asyncio tasks that interleave inside the block."""
        shared = audit_context(purpose="shared")

        async def one(n: int) -> tuple[str | None, str | None]:
            async with shared:
                await asyncio.sleep(0.01 * (n % 3))
                inside = get_audit_context().purpose
            return inside, get_audit_context().purpose

        async def run() -> list[tuple[str | None, str | None]]:
            return await asyncio.gather(*(one(n) for n in range(20)))

        assert [("shared", None)] * 20 == asyncio.run(run())

    def test_exit_out_of_order_is_refused(self) -> None:
        """Leaving an outer block before its inner one is a programming error."""
        outer, inner = audit_context(purpose="a"), audit_context(purpose="b")
        outer.__enter__()
        inner.__enter__()

        with pytest.raises(RuntimeError, match="innermost"):
            outer.__exit__(None, None, None)
        inner.__exit__(None, None, None)
        outer.__exit__(None, None, None)
        assert get_audit_context().purpose is None

    def test_copied_context_reaches_a_thread(self) -> None:
        """A thread started with a copy of the context sees the block's values."""
        seen: list[str | None] = []
        with audit_context(purpose="copied"):
            snapshot = contextvars.copy_context()
        thread = threading.Thread(
            target=lambda: seen.append(snapshot.run(get_audit_context).purpose)
        )
        thread.start()
        thread.join()

        assert ["copied"] == seen
