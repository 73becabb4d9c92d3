"""Verification: the whole log against the keys a verifier trusts."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from vision_audit.store._chain import (
    SIGNATURE,
    Verification,
    verify_chain,
)
from vision_audit.store._keys import (
    key_id,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PublicKey,
    )

    from vision_audit.store._checkpoints import (
        Claim,
    )
    from vision_audit.store._note import NoteVerifier
from vision_audit.store._reading import StoreReading


class StoreVerifying(StoreReading):
    """Verification: the whole log against the keys a verifier trusts."""

    def list_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """
        The public keys this store's checkpoints were signed with, by key id.

        These come from the store itself; an auditor should hold the chain to a key
        obtained another way (``verify(public_keys=...)``).

        .. versionadded:: 0.1.0
        """
        from vision_audit.store._keys import load_public_key  # noqa: PLC0415

        with self._read_snapshot(first=0, last=0, contents=False) as snapshot:
            keys = snapshot[3]
            return {
                kid: load_public_key(pem.encode("ascii"), source=f"key {kid}")
                for kid, pem in keys.items()
            }

    def verify(
        self,
        *,
        public_keys: Iterable[Ed25519PublicKey] | None = None,
        progress: Callable[[int], None] | None = None,
        content: bool = True,
        witnesses: Sequence[NoteVerifier] = (),
        min_witnesses: int = 1,
        pinned: Sequence[Claim] = (),
    ) -> Verification:
        """
        Check every link, content digest, checkpoint and cosignature of the store.

        Args:
            public_keys: The writer keys to trust: the log then fails as
                ``unsigned`` unless a checkpoint signed by one of them holds it.
                When None (and no witnesses), the keys the store records are used,
                and a warning says that this proves consistency, not origin.
            progress: Called now and then with the number of events checked.
            content: Also check each event's personal content against the salted
                digests its envelope holds (about three times slower).
            witnesses: Trusted witnesses' keys: the log then fails as
                ``not-witnessed`` unless a checkpoint cosigned by *min_witnesses*
                of them holds it, and a rewrite of what they saw fails.
            min_witnesses: The quorum of distinct witnesses.
            pinned: Roots the verifier holds from elsewhere (checked already).

        Returns:
            The verification; ``ok`` is False with the first bad sequence and the
            kind of damage when anything does not match.

        Raises:
            StoreError: The store cannot be read at all (e.g. a corrupt file).

        .. versionadded:: 0.1.0
        .. versionchanged:: 0.2.0 ``witnesses``, ``min_witnesses`` and ``pinned``.
        """
        from vision_audit.store._keys import load_public_key  # noqa: PLC0415

        with self._read_snapshot(contents=content) as (
            links,
            contents,
            checkpoints,
            keys,
            maintenance,
        ):
            warnings: list[str] = []
            unreadable: list[tuple[str, str]] = []
            trusted: dict[str, Ed25519PublicKey] | None
            if public_keys is None and not witnesses:
                trusted = {}
                for kid, pem in keys.items():
                    try:
                        trusted[kid] = load_public_key(
                            pem.encode("ascii"), source=f"key {kid}"
                        )
                    except (ValueError, UnicodeError) as err:
                        unreadable.append((kid, str(err)))
                if checkpoints:
                    warnings.append(
                        "checkpoint signatures were checked against the public keys "
                        "stored in the store itself; pass a public key obtained "
                        "another way to prove who signed them"
                    )
            elif public_keys is None:
                trusted = None
            else:
                trusted = {key_id(key): key for key in public_keys}
            result = verify_chain(
                links,
                checkpoints=checkpoints,
                public_keys=trusted,
                contents=contents if content else None,
                progress=progress,
                require_signature=public_keys is not None,
                maintenance=maintenance,
                witnesses=witnesses,
                min_witnesses=min_witnesses,
                origin=self.origin or None,
                pinned=pinned,
            )
        if unreadable:
            kid, problem = min(unreadable)
            at = min(
                (c.sequence for c in checkpoints if c.key_id == kid),
                default=(result.head.sequence if result.head else 0) + 1,
            )
            if result.ok or (result.sequence or 0) >= at:
                return dataclasses.replace(
                    result,
                    ok=False,
                    sequence=at,
                    kind=SIGNATURE,
                    message=(
                        f"the public key {kid} recorded in the store was changed: "
                        f"{problem}"
                    ),
                    warnings=(),
                )
        if warnings and result.ok:
            result = dataclasses.replace(result, warnings=(*result.warnings, *warnings))
        return dataclasses.replace(result, origin=self.origin or None)
