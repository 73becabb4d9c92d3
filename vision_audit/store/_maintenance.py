"""Maintenance: retention purges and subject erasure, each recorded by its own event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vision_audit import attributes as attrs
from vision_audit.models import AuditEvent, RecordedEvent
from vision_audit.store._canonical import format_time
from vision_audit.store._envelope import Prepared, prepare
from vision_audit.store._writer import StoreWriter


class StoreMaintenance(StoreWriter):
    """Retention purges and subject erasure, each recorded by its own event."""

    def purge_content(
        self,
        *,
        older_than: datetime | timedelta,
        data_class: str | None = None,
        actor: str | None = None,
    ) -> RecordedEvent:
        """
        Delete personal content of events older than a cutoff; the chain still verifies.

        Values and salts go; the salted digests stay, so the chain and any remaining
        content still verify. Records a ``content.purged`` event with the counts, in
        the same transaction.

        Args:
            older_than: A time, or an age counted back from now.
            data_class: Only this content member (e.g. ``caption``, ``text``, or
                ``subject_ref`` for raw subject references); all when None.
            actor: Who asked, recorded in the event.

        Returns:
            The ``content.purged`` event, whose ``data`` holds ``events`` and
            ``records``, the counts of events and content records purged.

        Raises:
            AuditWriteError: Nothing was purged and no event recorded.

        .. versionadded:: 0.1.0
        """
        cutoff = (
            datetime.now(UTC) - older_than
            if isinstance(older_than, timedelta)
            else older_than
        )
        before = format_time(cutoff)

        def make() -> Prepared:
            events, records = self._remove_content(
                before=before, data_class=data_class, subject=None
            )
            event = AuditEvent(
                type=attrs.EVENT_CONTENT_PURGED,
                actor=actor,
                data={
                    "older_than": before,
                    "data_class": data_class,
                    "events": events,
                    "records": records,
                },
            )
            return prepare(event, self._pseudonym_function())

        return self._run_maintenance(make)

    def erase_subject(
        self, subject_ref: str, *, actor: str | None = None
    ) -> RecordedEvent:
        """
        Delete every piece of one data subject's personal content; the chain verifies.

        Finds the subject's events by pseudonym, deletes their content values and
        salts (the raw reference included), and records a ``subject.erased`` event
        carrying the pseudonym and the counts, never the reference or the content.

        Args:
            subject_ref: The reference as the application gave it.
            actor: Who asked, recorded in the event.

        Returns:
            The ``subject.erased`` event; ``data`` holds ``events`` and ``records``.

        Raises:
            AuditWriteError: Nothing was erased and no event recorded.

        .. versionadded:: 0.1.0
        """
        if not isinstance(subject_ref, str) or not subject_ref:
            msg = "subject_ref must be a non-empty string"
            raise ValueError(msg)
        pseudonym = self._pseudonym_function()(subject_ref)
        self._look_for_subject(pseudonym)

        def make() -> Prepared:
            events, records = self._remove_content(
                before=None, data_class=None, subject=pseudonym
            )
            event = AuditEvent(
                type=attrs.EVENT_SUBJECT_ERASED,
                actor=actor,
                data={"events": events, "records": records},
            )
            return prepare(event, self._pseudonym_function(), pseudonym=pseudonym)

        return self._run_maintenance(make)

    @property
    def wipe_pending(self) -> bool:
        """
        Whether content removed by a purge or erasure may linger in the storage.

        Removal overwrites the values in place, but the storage may keep older copies
        (SQLite: page images in the WAL file, while a reader holds an older snapshot;
        PostgreSQL: dead row versions, when ``VACUUM`` is not permitted) until they
        can be wiped. The store retries on later writes and on close, and logs a
        warning on the ``vision_audit`` logger while they linger.

        .. versionadded:: 0.1.0
        """
        return self._wipe_pending

    def _recorded_data_classes(self) -> set[str]:
        """The names of the personal content records kept (purged or not)."""
        with self._read_snapshot(first=0, last=0) as (_, records, _, _, _):
            return {name for _, _, name, _, _, _ in records}
