"""
Where the stores keep the Merkle tree's nodes, and proofs read from them.

The perfect subtree at ``(level, index)`` (leaves ``index << level`` up to, not
including, ``(index + 1) << level``) is completed by the event of sequence
``(index + 1) << level``; that event's row keeps the hashes of every subtree it
completes, levels 1 and up, in order. Level 0, the leaf, is derived from the row's
event hash. So a proof reads one row per node it needs, by primary key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vision_audit.exceptions import StoreError
from vision_audit.store import _merkle

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping

    TreeReader = Callable[[Iterable[int]], Mapping[int, tuple[str, str | None]]]

__all__ = ["consistency_proof", "frontier_of", "inclusion_proof", "root_at"]


def _row_of(address: _merkle.Address) -> int:
    level, index = address
    return (index + 1) << level


def _getter(
    read: TreeReader,
) -> Callable[[Collection[_merkle.Address]], dict[_merkle.Address, bytes]]:
    def get(addresses: Collection[_merkle.Address]) -> dict[_merkle.Address, bytes]:
        rows = read({_row_of(address) for address in addresses})
        found: dict[_merkle.Address, bytes] = {}
        for address in addresses:
            level, _ = address
            sequence = _row_of(address)
            row = rows.get(sequence)
            try:
                if row is None:
                    raise LookupError  # noqa: TRY301 - one message for every miss
                if level == 0:
                    found[address] = _merkle.leaf_hash(bytes.fromhex(row[0]))
                    continue
                nodes = (row[1] or "").split(",")
                found[address] = bytes.fromhex(nodes[level - 1])
            except (LookupError, ValueError) as err:
                msg = (
                    f"the Merkle tree kept with event {sequence} is missing or "
                    "damaged; run `vision-audit verify` on the store"
                )
                raise StoreError(msg) from err
        return found

    return get


def frontier_of(size: int, read: TreeReader) -> list[bytes]:
    """The hashes of the perfect subtrees that make up the tree of *size* events."""
    addresses = _merkle.frontier(size)
    nodes = _getter(read)(addresses)
    return [nodes[address] for address in addresses]


def root_at(size: int, read: TreeReader) -> bytes:
    """The Merkle root of the first *size* events."""
    return _merkle.root_from_frontier(frontier_of(size, read))


def inclusion_proof(sequence: int, size: int, read: TreeReader) -> list[bytes]:
    """The audit path of event *sequence* in the tree of *size* events."""
    return _merkle.inclusion_proof(sequence - 1, size, _getter(read))


def consistency_proof(old: int, new: int, read: TreeReader) -> list[bytes]:
    """The proof that the tree of *new* events extends the tree of *old*."""
    return _merkle.consistency_proof(old, new, _getter(read))
