"""
RFC 9162 Merkle tree hashing, perfect-subtree addressing, appends and proofs.

The audit log is also a Certificate Transparency v2 style Merkle tree (`RFC 9162
§2.1 <https://www.rfc-editor.org/rfc/rfc9162#section-2.1>`_). The leaf data of event
number ``sequence`` (1-based) is the 32-byte SHA-256 of its canonical JSON, and its leaf
index is ``sequence - 1``. Everything here works on raw digests (``bytes``), never hex.

Hashing (§2.1.1)::

    MTH({})    = SHA-256()
    MTH({d0})  = SHA-256(0x00 || d0)                         leaf_hash()
    MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  node_hash()

where ``k`` is the largest power of two smaller than ``n``.

Storage addresses the *perfect* subtrees: node ``(level, index)`` is the hash of the
``2**level`` leaves ``[index << level, (index + 1) << level)``; level 0 nodes are leaf
hashes. Any hash a proof needs is the right fold (:func:`root_from_frontier`) of a few
such nodes, so a store that keeps them answers a proof with one look-up of at most
about ``2 * log2(size)`` nodes, and an append completes amortised one node per leaf.

The functions are pure. Proof builders take a ``get`` callable that maps a collection
of addresses to their hashes, and call it once; verifiers never raise and answer
``False`` for anything malformed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Address",
    "append",
    "consistency_addresses",
    "consistency_proof",
    "frontier",
    "inclusion_addresses",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_addresses",
    "root_from_frontier",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

Address: TypeAlias = tuple[int, int]
"""
A node's ``(level, index)``: the perfect subtree over the ``2**level`` leaves from
``index << level``.
"""

HASH_SIZE: Final = 32
"""The size in bytes of every hash here (SHA-256)."""

EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()
"""The root of the empty tree, ``SHA-256()`` (RFC 9162 §2.1.1)."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """
    Hash one leaf: ``SHA-256(0x00 || data)``.

    Args:
        data: The leaf data; in the audit log, an event's 32-byte digest.

    Returns:
        The 32-byte leaf hash, a level 0 node.
    """
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """
    Hash two children: ``SHA-256(0x01 || left || right)``.

    Args:
        left: The hash of the left subtree.
        right: The hash of the right subtree.

    Returns:
        The 32-byte hash of their parent.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(count: int) -> int:
    """Return RFC 9162's ``k``, the largest power of two smaller than *count* (>= 2)."""
    return 1 << ((count - 1).bit_length() - 1)


def _check_size(name: str, value: int) -> None:
    """
    Refuse a negative tree size or index.

    Raises:
        ValueError: If *value* is negative.
    """
    if value < 0:
        msg = f"{name} must be >= 0, got {value}"
        raise ValueError(msg)


def frontier(size: int) -> list[Address]:
    """
    Return the perfect subtrees that make up a tree of *size* leaves.

    They are the set bits of *size*, left (largest) to right; for example size 6 gives
    ``[(2, 0), (1, 2)]``, and size 0 gives ``[]``.

    Args:
        size: The number of leaves.

    Returns:
        Their addresses, in the order :func:`root_from_frontier` folds them.

    Raises:
        ValueError: If *size* is negative.
    """
    _check_size("size", size)
    addresses: list[Address] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            addresses.append((level, start >> level))
            start += 1 << level
    return addresses


def root_from_frontier(hashes: Sequence[bytes]) -> bytes:
    """
    Fold perfect-subtree hashes, given in frontier order, into one tree hash.

    The fold runs from the right, ``node_hash(hashes[i], acc)``, which is how RFC 9162's
    ``MTH`` joins a tree's perfect subtrees (each split puts the largest one left).

    Args:
        hashes: The hashes of :func:`frontier` or :func:`range_addresses` nodes.

    Returns:
        The tree hash; :data:`EMPTY_ROOT` for no hashes.
    """
    if not hashes:
        return EMPTY_ROOT
    sha, prefix = _sha256, _NODE_PREFIX
    acc = hashes[-1]
    for index in range(len(hashes) - 2, -1, -1):
        acc = sha(prefix + hashes[index] + acc).digest()
    return acc


def range_addresses(start: int, end: int) -> list[Address]:
    """
    Return the perfect subtrees whose fold is ``MTH(D[start:end])``.

    This is :func:`frontier` of ``end - start`` leaves moved to *start*. It is defined
    when *start* is a multiple of the size of the largest of those subtrees (so each of
    them is a stored node), which holds for every range RFC 9162's proofs name: those
    ranges begin at a multiple of a power of two at least as large as the range.

    Args:
        start: The first leaf index.
        end: One past the last leaf index.

    Returns:
        The addresses, largest (leftmost) first; ``[]`` for an empty range.

    Raises:
        ValueError: If *start* is negative, *end* is before *start*, or *start* is not
            aligned as described.
    """
    _check_size("start", start)
    count = end - start
    if count < 0:
        msg = f"end ({end}) must not be before start ({start})"
        raise ValueError(msg)
    if count and start % (1 << (count.bit_length() - 1)):
        msg = (
            f"leaves [{start}, {end}) do not split into stored subtrees: start must be"
            f" a multiple of {1 << (count.bit_length() - 1)}"
        )
        raise ValueError(msg)
    return [(level, (start >> level) + index) for level, index in frontier(count)]


def append(
    nodes: Sequence[tuple[Address, bytes]], size: int, leaves: Sequence[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[tuple[Address, bytes]]]:
    """
    Append leaf hashes to a tree known by its frontier.

    Each leaf completes one perfect node per trailing one bit of the size before it,
    so the cost is amortised one :func:`node_hash` per leaf.

    Args:
        nodes: The frontier of the tree before the batch: ``(address, hash)`` pairs
            with exactly the addresses of ``frontier(size)``, in that order.
        size: The number of leaves before the batch.
        leaves: The new leaf hashes (level 0 nodes, :func:`leaf_hash` outputs), in
            order.

    Returns:
        Every new perfect node of level 1 or more, as ``(level, index, hash)``, in the
        order they were completed (lower levels and earlier leaves first); and the
        frontier of the tree of ``size + len(leaves)`` leaves, as *nodes* is given.

    Raises:
        ValueError: If *size* is negative, the addresses of *nodes* are not
            ``frontier(size)``, or a hash is not 32 bytes long.
    """
    expected = frontier(size)
    if [address for address, _ in nodes] != expected:
        msg = (
            f"the frontier of a tree of {size} leaves is {expected}, got"
            f" {[address for address, _ in nodes]}"
        )
        raise ValueError(msg)
    stack = [hash_ for _, hash_ in nodes]
    if any(len(hash_) != HASH_SIZE for hash_ in stack):
        msg = f"frontier hashes must be {HASH_SIZE} bytes long"
        raise ValueError(msg)
    created: list[tuple[int, int, bytes]] = []
    sha, prefix, pop, push, record = (
        _sha256,
        _NODE_PREFIX,
        stack.pop,
        stack.append,
        created.append,
    )
    position = size
    for leaf in leaves:
        if len(leaf) != HASH_SIZE:
            msg = f"leaf hash {position} must be {HASH_SIZE} bytes long, got {leaf!r}"
            raise ValueError(msg)
        # The trailing one bits of the position are the perfect subtrees to its left
        # that this leaf completes, smallest first.
        right, level, index = leaf, 0, position
        while index & 1:
            right = sha(prefix + pop() + right).digest()
            level += 1
            index >>= 1
            record((level, index, right))
        push(right)
        position += 1
    return created, list(zip(frontier(position), stack, strict=True))


def inclusion_addresses(index: int, size: int) -> list[list[Address]]:
    """
    Return the elements of the inclusion proof ``PATH(index, D[size])``.

    See RFC 9162 §2.1.3.1. Each element is the list of perfect subtrees whose fold is
    its hash; all but at most one element are single nodes.

    Args:
        index: The leaf index (``sequence - 1``).
        size: The tree size.

    Returns:
        The elements in the RFC's order: the leaf's sibling first, the top last.

    Raises:
        ValueError: If a number is negative or *index* is not below *size*.
    """
    _check_size("index", index)
    if index >= size:
        msg = f"leaf index {index} is not in a tree of {size} leaves"
        raise ValueError(msg)
    elements: list[list[Address]] = []
    start, end = 0, size
    while end - start > 1:
        split = start + _split(end - start)
        if index < split:
            elements.append(range_addresses(split, end))
            end = split
        else:
            level = (split - start).bit_length() - 1
            elements.append([(level, start >> level)])
            start = split
    elements.reverse()
    return elements


def consistency_addresses(old: int, new: int) -> list[list[Address]]:
    """
    Return the elements of the consistency proof ``PROOF(old, D[new])``.

    See RFC 9162 §2.1.4.1: ``SUBPROOF(old, D[new], true)``. Each element is the list
    of perfect subtrees whose fold is its hash; all but at most one element are single
    nodes. The RFC defines the proof for ``0 < old < new``; for ``old == 0`` and for
    ``old == new`` there is nothing to prove and the proof is empty, which is what
    :func:`verify_consistency` accepts for them.

    Args:
        old: The earlier tree size.
        new: The later tree size.

    Returns:
        The elements in the RFC's order, deepest first.

    Raises:
        ValueError: If a size is negative or *old* is larger than *new*.
    """
    _check_size("old", old)
    if old > new:
        msg = f"old size {old} is larger than new size {new}"
        raise ValueError(msg)
    if old in {0, new}:
        return []
    elements: list[list[Address]] = []
    # The subtree D[start:end] of D[new] holds the first `old - start` leaves of the
    # old tree; `whole` is the RFC's flag b: the subtree is still the old tree itself.
    start, end, whole = 0, new, True
    while old != end:
        split = start + _split(end - start)
        if old <= split:
            elements.append(range_addresses(split, end))
            end = split
        else:
            level = (split - start).bit_length() - 1
            elements.append([(level, start >> level)])
            start, whole = split, False
    if not whole:
        elements.append(range_addresses(start, end))
    elements.reverse()
    return elements


def _assemble(
    elements: list[list[Address]],
    get: Callable[[Collection[Address]], Mapping[Address, bytes]],
) -> list[bytes]:
    """
    Fetch every address of *elements* with one call to *get* and fold each element.

    Raises:
        KeyError: If *get* leaves out an address.
    """
    wanted = list(dict.fromkeys(address for element in elements for address in element))
    if not wanted:
        return []
    hashes = get(wanted)
    return [
        root_from_frontier([hashes[address] for address in element])
        for element in elements
    ]


def inclusion_proof(
    index: int,
    size: int,
    get: Callable[[Collection[Address]], Mapping[Address, bytes]],
) -> list[bytes]:
    """
    Build the inclusion proof of leaf *index* in the tree of *size* leaves.

    Args:
        index: The leaf index (``sequence - 1``).
        size: The tree size.
        get: Maps the addresses it is given to their node hashes. It is called once,
            with every address the proof needs (no duplicates), and not at all when
            the proof is empty (size 1).

    Returns:
        The proof, RFC 9162 §2.1.3.1's ``PATH(index, D[size])``.

    Raises:
        ValueError: If a number is negative or *index* is not below *size*.
        KeyError: If *get* leaves out an address.
    """
    return _assemble(inclusion_addresses(index, size), get)


def consistency_proof(
    old: int,
    new: int,
    get: Callable[[Collection[Address]], Mapping[Address, bytes]],
) -> list[bytes]:
    """
    Build the proof that the tree of *old* leaves is a prefix of the one of *new*.

    Args:
        old: The earlier tree size.
        new: The later tree size.
        get: Maps the addresses it is given to their node hashes. It is called once,
            with every address the proof needs (no duplicates), and not at all when
            the proof is empty (``old == 0`` or ``old == new``).

    Returns:
        The proof, RFC 9162 §2.1.4.1's ``PROOF(old, D[new])``; empty when *old* is 0
        or equal to *new* (see :func:`consistency_addresses`).

    Raises:
        ValueError: If a size is negative or *old* is larger than *new*.
        KeyError: If *get* leaves out an address.
    """
    return _assemble(consistency_addresses(old, new), get)


def _is_hash(value: object) -> bool:
    """Tell whether *value* is a 32-byte ``bytes`` object."""
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    """Tell whether *value* is a non-negative ``int`` (and not a ``bool``)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """
    Check an inclusion proof, exactly as RFC 9162 §2.1.3.2 says.

    The RFC's check ties *size* to the shape of the path, not to *root*: a proof can
    also pass with a neighbouring size whose path has the same shape. Take the size
    and the root from the same signed checkpoint.

    Args:
        leaf: The leaf hash (:func:`leaf_hash` of the leaf data).
        index: The leaf index.
        size: The tree size.
        proof: The inclusion path.
        root: The root of the tree of *size* leaves.

    Returns:
        Whether the proof shows that *leaf* is leaf *index* of the tree with *root*.
        Anything malformed (an index out of range, a proof too long or too short, a
        hash that is not 32 bytes) gives ``False``, never an exception.
    """
    if not (
        _is_count(index)
        and _is_count(size)
        and index < size
        and _is_hash(leaf)
        and _is_hash(root)
        and isinstance(proof, Sequence)
    ):
        return False
    sha, prefix = _sha256, _NODE_PREFIX
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0 or not _is_hash(p):
            return False
        if fn & 1 or fn == sn:
            r = sha(prefix + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = sha(prefix + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _consistency_roots(
    old: int, new: int, path: Sequence[bytes]
) -> tuple[bytes, bytes] | None:
    """
    Run steps 3 to 6 of RFC 9162 §2.1.4.2 over *path* (step 2 already applied).

    Returns:
        The ``(fr, sr)`` the path computes, or ``None`` when it fails: an element that
        is not a 32-byte hash, too many elements, or too few (``sn`` is not 0 at the
        end, the first half of step 7).
    """
    sha, prefix = _sha256, _NODE_PREFIX
    # Steps 3 and 4.
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    if not _is_hash(fr):
        return None
    # Step 6.
    for index in range(1, len(path)):
        c = path[index]
        if sn == 0 or not _is_hash(c):
            return None
        if fn & 1 or fn == sn:
            fr = sha(prefix + c + fr).digest()
            sr = sha(prefix + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha(prefix + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return (fr, sr) if sn == 0 else None


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """
    Check a consistency proof, exactly as RFC 9162 §2.1.4.2 says.

    The RFC's algorithm covers ``0 < old < new``. The two cases with nothing to prove
    take an empty proof: ``old == new`` holds when the roots are equal, and
    ``old == 0`` holds when *old_root* is :data:`EMPTY_ROOT` (the empty tree is a
    prefix of every tree, but no other hash is the root of a tree of size 0).

    As with :func:`verify_inclusion`, take each size from the same signed checkpoint
    as its root.

    Args:
        old: The earlier tree size.
        new: The later tree size.
        old_root: The root of the tree of *old* leaves.
        new_root: The root of the tree of *new* leaves.
        proof: The consistency path.

    Returns:
        Whether the proof shows that the tree with *old_root* is a prefix of the tree
        with *new_root*. Anything malformed (``old > new``, a proof too long or too
        short, a hash that is not 32 bytes) gives ``False``, never an exception.
    """
    if not (
        _is_count(old)
        and _is_count(new)
        and old <= new
        and _is_hash(old_root)
        and _is_hash(new_root)
        and isinstance(proof, Sequence)
    ):
        return False
    if old in {0, new}:
        return (
            not proof
            and (old > 0 or old_root == EMPTY_ROOT)
            and (old < new or old_root == new_root)
        )
    # Step 1: an empty path proves nothing between different sizes.
    if not proof:
        return False
    # Step 2: when old is a power of two, its root is a node of the new tree, and the
    # path leaves it out.
    path = [old_root, *proof] if old & (old - 1) == 0 else proof
    # Step 7: fr is old_root, sr is new_root (and sn is 0, checked with step 6).
    return _consistency_roots(old, new, path) == (old_root, new_root)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """
    Compute RFC 9162's ``MTH`` over leaf hashes, by its recursive definition.

    This hashes every inner node, so it suits tests and small trees.

    Args:
        leaves: The leaf hashes (:func:`leaf_hash` outputs), in order.

    Returns:
        The root; :data:`EMPTY_ROOT` for no leaves.
    """
    count = len(leaves)
    if count == 0:
        return EMPTY_ROOT
    if count == 1:
        return leaves[0]
    split = _split(count)
    return node_hash(root_of(leaves[:split]), root_of(leaves[split:]))
