"""RFC 9162 Merkle trees: hashes, addresses, appends, proofs and their verification."""

from __future__ import annotations

import hashlib
import itertools
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vision_audit.store._merkle import (
    EMPTY_ROOT,
    append,
    consistency_addresses,
    consistency_proof,
    frontier,
    inclusion_addresses,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_addresses,
    root_from_frontier,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------------
# A naive implementation, written from the text of RFC 9162 §2.1 and nothing else.
# ---------------------------------------------------------------------------------


def _rfc_k(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _rfc_mth(d):
    """MTH(D[n]) over leaf *data*, §2.1.1."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _rfc_k(n)
    return hashlib.sha256(b"\x01" + _rfc_mth(d[:k]) + _rfc_mth(d[k:])).digest()


def _rfc_path(m, d, mth):
    """PATH(m, D[n]), §2.1.3.1, with MTH given (so it also runs over ranges)."""
    n = len(d)
    if n == 1:
        return []
    k = _rfc_k(n)
    if m < k:
        return [*_rfc_path(m, d[:k], mth), mth(d[k:])]
    return [*_rfc_path(m - k, d[k:], mth), mth(d[:k])]


def _rfc_subproof(m, d, b, mth):
    """SUBPROOF(m, D[n], b), §2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _rfc_k(n)
    if m <= k:
        return [*_rfc_subproof(m, d[:k], b, mth), mth(d[k:])]
    return [*_rfc_subproof(m - k, d[k:], b=False, mth=mth), mth(d[:k])]


def _rfc_proof(m, d, mth):
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), §2.1.4.1."""
    return _rfc_subproof(m, d, b=True, mth=mth)


def _span(leaves):
    """The MTH of a ``range`` of leaf indexes, kept symbolic: its bounds."""
    return leaves.start, leaves.stop


# ---------------------------------------------------------------------------------
# Test data: a pool of leaves and every perfect node over them.
# ---------------------------------------------------------------------------------

POOL = 2100
SMALL = 70
DATA = [hashlib.sha256(b"event %d" % n).digest() for n in range(POOL)]
LEAVES = [leaf_hash(data) for data in DATA]


@cache
def _all_nodes():
    """Every perfect node (level, index) over the pool, built bottom-up by hand."""
    nodes = {}
    row = [hashlib.sha256(b"\x00" + data).digest() for data in DATA]
    level = 0
    while row:
        nodes.update({(level, index): hash_ for index, hash_ in enumerate(row)})
        row = [
            hashlib.sha256(b"\x01" + row[i] + row[i + 1]).digest()
            for i in range(0, len(row) - 1, 2)
        ]
        level += 1
    return nodes


@cache
def _root(size):
    """The root of the first *size* leaves of the pool."""
    return _rfc_mth(DATA[:size])


class Store:
    """A getter over the pool that records its calls and refuses unfinished nodes."""

    def __init__(self, size):
        self.size = size
        self.calls = []

    def __call__(self, addresses):
        self.calls.append(list(addresses))
        assert len(set(addresses)) == len(addresses)
        for level, index in addresses:
            assert (index + 1) << level <= self.size
        return {address: _all_nodes()[address] for address in addresses}


def _flip(proof, element, bit):
    """A copy of *proof* with one bit of one element flipped."""
    changed = bytearray(proof[element])
    changed[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:element], bytes(changed), *proof[element + 1 :]]


def _flip_hash(hash_, bit):
    """*hash_* with one bit flipped."""
    return _flip([hash_], 0, bit)[0]


@st.composite
def _index_and_size(draw, low=1, high=POOL):
    """A tree size from the pool and a leaf index in it."""
    size = draw(st.integers(low, high))
    return draw(st.integers(0, size - 1)), size


@st.composite
def _old_and_new(draw, low=1, high=POOL):
    """Two tree sizes from the pool, the first no larger than the second."""
    new = draw(st.integers(low, high))
    return draw(st.integers(1, new)), new


# The RFC 6962 test tree of certificate-transparency implementations, with the roots
# of its first 1..8 leaves and some of its proofs, as published in
# transparency-dev/merkle (proof/verify_test.go, testonly/constants.go).
CT_LEAVES = [
    bytes.fromhex(data)
    for data in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    ],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (0, 1): [],
}
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 7): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def _ct_get(addresses):
    """A getter over the CT test tree, computing each node from its leaves."""
    ct = [leaf_hash(data) for data in CT_LEAVES]
    return {
        (level, index): root_of(ct[index << level : (index + 1) << level])
        for level, index in addresses
    }


class TestHashes:
    """leaf_hash(), node_hash(), EMPTY_ROOT and root_of()."""

    def test_empty_root(self):
        """The empty tree hashes to SHA-256 of nothing."""
        assert (
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            == EMPTY_ROOT.hex()
        )

    def test_domain_separation(self):
        """Leaves and nodes are prefixed with 0x00 and 0x01."""
        left, right = bytes(32), bytes(range(32))

        assert hashlib.sha256(b"\x00" + left).digest() == leaf_hash(left)
        assert hashlib.sha256(b"\x01" + left + right).digest() == node_hash(left, right)

    def test_leaf_is_not_a_node(self):
        """A leaf whose data is two hashes does not hash like their parent."""
        left, right = leaf_hash(b"a"), leaf_hash(b"b")

        assert node_hash(left, right) != leaf_hash(left + right)

    def test_ct_roots(self):
        """root_of() gives the published roots of the CT test tree."""
        leaves = [leaf_hash(data) for data in CT_LEAVES]

        assert CT_ROOTS == [root_of(leaves[:n]).hex() for n in range(1, 9)]

    def test_root_of_empty(self):
        """No leaves make the empty root."""
        assert EMPTY_ROOT == root_of([])

    def test_root_of_matches_the_rfc(self):
        """root_of() over leaf hashes is the RFC's MTH over leaf data."""
        assert [_rfc_mth(DATA[:n]) for n in range(SMALL + 1)] == [
            root_of(LEAVES[:n]) for n in range(SMALL + 1)
        ]

    def test_test_nodes_are_the_rfc_subtrees(self):
        """The hand-built nodes the tests serve are MTHs of their leaves."""
        nodes = _all_nodes()
        sample = [(0, 0), (0, 5), (1, 3), (3, 2), (6, 1), (11, 0)]

        assert [
            _rfc_mth(DATA[index << level : (index + 1) << level])
            for level, index in sample
        ] == [nodes[address] for address in sample]


class TestFrontier:
    """frontier() and root_from_frontier()."""

    @pytest.mark.parametrize(
        ("size", "expected"),
        [
            (0, []),
            (1, [(0, 0)]),
            (2, [(1, 0)]),
            (3, [(1, 0), (0, 2)]),
            (6, [(2, 0), (1, 2)]),
            (7, [(2, 0), (1, 2), (0, 6)]),
            (8, [(3, 0)]),
            (13, [(3, 0), (2, 2), (0, 12)]),
        ],
    )
    def test_examples(self, size, expected):
        """The set bits of the size, largest first, each after the ones before."""
        assert expected == frontier(size)

    @given(st.integers(0, 2**70))
    def test_tiles_the_tree(self, size):
        """The subtrees cover [0, size) in order, strictly shrinking."""
        addresses = frontier(size)
        starts = [index << level for level, index in addresses]
        ends = [(index + 1) << level for level, index in addresses]

        assert [0, *ends] == [*starts, size]
        assert sorted({level for level, _ in addresses}, reverse=True) == [
            level for level, _ in addresses
        ]

    def test_negative(self):
        """A negative size is refused."""
        with pytest.raises(ValueError, match="size must be >= 0"):
            frontier(-1)

    def test_fold_is_the_root(self):
        """Folding the frontier's nodes gives the tree's root, for every size."""
        nodes = _all_nodes()

        assert [_root(size) for size in range(SMALL + 1)] == [
            root_from_frontier([nodes[address] for address in frontier(size)])
            for size in range(SMALL + 1)
        ]

    @settings(max_examples=30)
    @given(st.integers(SMALL, POOL))
    def test_fold_is_the_root_of_larger_trees(self, size):
        """The same holds for trees from the pool."""
        nodes = _all_nodes()

        assert _root(size) == root_from_frontier(
            [nodes[address] for address in frontier(size)]
        )

    def test_fold_of_nothing(self):
        """No hashes fold to the empty root."""
        assert EMPTY_ROOT == root_from_frontier([])


class TestRangeAddresses:
    """range_addresses(): the stored subtrees of a right-edge range."""

    def test_examples(self):
        """The frontier of the range's length, moved to its start."""
        assert [(2, 2), (1, 6), (0, 14)] == range_addresses(8, 15)
        assert [(0, 5)] == range_addresses(5, 6)
        assert [] == range_addresses(4, 4)

    def test_fold_is_the_rfc_mth(self):
        """Every aligned range of the small trees folds to the MTH of its leaves."""
        nodes = _all_nodes()
        ranges = [
            (start, end)
            for end in range(SMALL + 1)
            for start in range(end + 1)
            if start == end or start % (1 << ((end - start).bit_length() - 1)) == 0
        ]

        assert [_rfc_mth(DATA[start:end]) for start, end in ranges] == [
            root_from_frontier([nodes[a] for a in range_addresses(start, end)])
            for start, end in ranges
        ]

    @pytest.mark.parametrize(("start", "end"), [(1, 3), (2, 7), (6, 10), (12, 20)])
    def test_unaligned(self, start, end):
        """A range whose largest subtree would not be a stored node is refused."""
        with pytest.raises(ValueError, match="must be a multiple of"):
            range_addresses(start, end)

    @pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 4)])
    def test_bad_bounds(self, start, end):
        """A negative start or a reversed range is refused."""
        with pytest.raises(ValueError, match="start"):
            range_addresses(start, end)


class TestAppend:
    """append(): incremental growth of the stored nodes."""

    @staticmethod
    def _grow(cuts, total):
        """Append the pool's first *total* leaves in batches cut at *cuts*."""
        bounds = sorted({0, total, *(cut for cut in cuts if cut < total)})
        state, size, created = [], 0, []
        for start, end in itertools.pairwise(bounds):
            new, state = append(state, size, LEAVES[start:end])
            created.extend(new)
            size = end
            assert frontier(size) == [address for address, _ in state]
        return state, created

    @settings(max_examples=60)
    @given(st.integers(0, 600), st.lists(st.integers(0, 600), max_size=12, unique=True))
    def test_same_root_and_nodes(self, total, cuts):
        """Any split into batches gives root_of()'s root and every perfect node."""
        state, created = self._grow(cuts, total)
        expected = {
            (level, index): hash_
            for (level, index), hash_ in _all_nodes().items()
            if level >= 1 and (index + 1) << level <= total
        }

        assert root_of(LEAVES[:total]) == root_from_frontier([h for _, h in state])
        assert len(expected) == len(created)
        assert expected == {(level, index): h for level, index, h in created}

    def test_one_node_per_leaf(self):
        """Growing to n leaves completes n - popcount(n) nodes: one hash per leaf."""
        _, created = self._grow(range(0, 1000, 3), 1000)

        assert 1000 - (1000).bit_count() == len(created)

    def test_order(self):
        """Nodes come lowest level and earliest leaf first, as they are completed."""
        state = [((1, 0), _all_nodes()[1, 0]), ((0, 2), LEAVES[2])]

        created, _ = append(state, 3, LEAVES[3:6])

        assert [(1, 1), (2, 0), (1, 2)] == [
            (level, index) for level, index, _ in created
        ]

    def test_nothing_to_append(self):
        """An empty batch changes nothing."""
        state = [((2, 0), _all_nodes()[2, 0]), ((0, 4), LEAVES[4])]

        assert ([], state) == append(state, 5, [])

    @pytest.mark.parametrize(
        ("addresses", "size"),
        [
            ([(0, 0)], 0),
            ([], 1),
            ([(0, 2), (1, 0)], 3),
            ([(1, 0)], 3),
            ([(1, 0), (0, 3)], 3),
            ([(2, 0)], 5),
        ],
    )
    def test_wrong_frontier(self, addresses, size):
        """A frontier that is not the one of the size is refused."""
        state = [(address, bytes(32)) for address in addresses]

        with pytest.raises(ValueError, match="the frontier of a tree of"):
            append(state, size, LEAVES[:1])

    def test_bad_hashes(self):
        """Hashes that are not 32 bytes are refused."""
        with pytest.raises(ValueError, match="frontier hashes"):
            append([((0, 0), bytes(31))], 1, LEAVES[:1])
        with pytest.raises(ValueError, match="leaf hash 2"):
            append([((0, 0), LEAVES[0])], 1, [LEAVES[1], LEAVES[2].hex()])


class TestInclusionProof:
    """inclusion_addresses() and inclusion_proof() against the RFC's PATH."""

    def test_every_small_tree(self):
        """Every leaf of every tree up to 70 leaves gets PATH, in one look-up."""
        pairs = [(i, n) for n in range(1, SMALL + 1) for i in range(n)]
        stores = {pair: Store(pair[1]) for pair in pairs}

        assert {(i, n): _rfc_path(i, DATA[:n], _rfc_mth) for i, n in pairs} == {
            (i, n): inclusion_proof(i, n, stores[i, n]) for i, n in pairs
        }
        assert [len(store.calls) for store in stores.values()] == [
            0 if n == 1 else 1 for _, n in pairs
        ]

    @given(_index_and_size(low=SMALL))
    def test_larger_trees(self, index_and_size):
        """Leaves of larger trees get PATH too."""
        index, size = index_and_size
        store = Store(size)

        assert _rfc_path(index, DATA[:size], _rfc_mth) == inclusion_proof(
            index, size, store
        )
        assert 1 == len(store.calls)

    @given(_index_and_size(high=2**62))
    def test_addresses_of_huge_trees(self, index_and_size):
        """The addresses are PATH's subtrees, at most 2 log2(size) of them."""
        index, size = index_and_size
        addresses = inclusion_addresses(index, size)

        assert [
            range_addresses(start, end)
            for start, end in _rfc_path(index, range(size), _span)
        ] == addresses
        assert sum(map(len, addresses)) <= 2 * (size - 1).bit_length()

    def test_million(self):
        """A proof in a tree of a million leaves needs at most 2 log2(n) nodes."""
        size = 1_000_000
        worst = max(
            sum(map(len, inclusion_addresses(index, size)))
            for index in range(0, size, 997)
        )

        assert worst <= 2 * 20

    def test_ct_vectors(self):
        """The published proofs of the CT test tree come out."""
        assert CT_INCLUSION == {
            (index, size): [h.hex() for h in inclusion_proof(index, size, _ct_get)]
            for index, size in CT_INCLUSION
        }

    @pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (5, 2), (-1, 4)])
    def test_out_of_range(self, index, size):
        """A leaf outside the tree is refused."""
        with pytest.raises(ValueError, match="index"):
            inclusion_proof(index, size, Store(size))

    def test_missing_node(self):
        """A getter that leaves a node out makes a KeyError."""
        with pytest.raises(KeyError):
            inclusion_proof(0, 4, lambda _: {})


class TestVerifyInclusion:
    """verify_inclusion(): RFC 9162 §2.1.3.2."""

    @staticmethod
    def _proof(index, size):
        return inclusion_proof(index, size, Store(size))

    def test_accepts_every_honest_small_proof(self):
        """Every proof of every tree up to 70 leaves verifies."""
        pairs = [(i, n) for n in range(1, SMALL + 1) for i in range(n)]

        assert all(
            verify_inclusion(LEAVES[i], i, n, self._proof(i, n), _root(n))
            for i, n in pairs
        )

    @given(_index_and_size(low=SMALL))
    def test_accepts_honest_larger_proofs(self, index_and_size):
        """Proofs in larger trees verify."""
        index, size = index_and_size

        assert verify_inclusion(
            LEAVES[index], index, size, self._proof(index, size), _root(size)
        )

    def test_ct_vectors(self):
        """The published CT proofs verify against the published roots."""
        leaves = [leaf_hash(data) for data in CT_LEAVES]

        assert all(
            verify_inclusion(
                leaves[index],
                index,
                size,
                [bytes.fromhex(h) for h in proof],
                bytes.fromhex(CT_ROOTS[size - 1]),
            )
            for (index, size), proof in CT_INCLUSION.items()
        )

    def test_every_bit_flip(self):
        """Flipping any bit of any element, of the leaf or of the root, fails."""
        accepted = []
        for size in range(1, 13):
            for index in range(size):
                proof, root = self._proof(index, size), _root(size)
                leaf = LEAVES[index]
                for bit in range(256):
                    probes = [
                        (_flip_hash(leaf, bit), proof, root),
                        (leaf, proof, _flip_hash(root, bit)),
                    ] + [(leaf, _flip(proof, e, bit), root) for e in range(len(proof))]
                    accepted += [
                        (index, size, bit)
                        for probe_leaf, probe_proof, probe_root in probes
                        if verify_inclusion(
                            probe_leaf, index, size, probe_proof, probe_root
                        )
                    ]

        assert [] == accepted

    def test_tampering_of_small_proofs(self):
        """Flips, truncation, extension, other indexes, sizes and roots all fail."""
        accepted = []
        for size in range(1, SMALL + 1):
            root = _root(size)
            for index in range(size):
                proof, leaf = self._proof(index, size), LEAVES[index]
                probes = [
                    (leaf, index, size, _flip(proof, e, (e * 37 + index) % 256), root)
                    for e in range(len(proof))
                ]
                probes += [
                    (leaf, index, size, [*proof, extra], root)
                    for extra in (root, leaf, bytes(32), EMPTY_ROOT)
                ]
                probes += [
                    (leaf, index, size, [extra, *proof], root)
                    for extra in (root, leaf, bytes(32))
                ]
                if proof:
                    probes += [
                        (leaf, index, size, proof[:-1], root),
                        (leaf, index, size, proof[1:], root),
                        (leaf, index, size, [], root),
                    ]
                if len(proof) > 1:
                    probes.append((leaf, index, size, proof[::-1], root))
                probes += [
                    (leaf, other, size, proof, root)
                    for other in range(size + 2)
                    if other != index
                ]
                probes += [
                    (leaf, index, other, proof, _root(other))
                    for other in range(index + 1, SMALL + 1)
                    if other != size
                ]
                probes += [
                    (leaf, index, other, proof, root)
                    for other in (size * 2, size // 2)
                    if other != size
                ]
                probes += [
                    (LEAVES[(index + 1) % POOL], index, size, proof, root),
                    (leaf, index, size, proof, _root(size + 1)),
                    (leaf, index, size, proof, EMPTY_ROOT),
                ]
                accepted += [probe[1:3] for probe in probes if verify_inclusion(*probe)]

        assert [] == accepted

    @settings(max_examples=50)
    @given(_index_and_size(low=2), st.data())
    def test_random_bit_flips(self, index_and_size, data):
        """A random bit flip in a larger proof fails."""
        index, size = index_and_size
        proof = self._proof(index, size)
        element = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))

        assert not verify_inclusion(
            LEAVES[index], index, size, _flip(proof, element, bit), _root(size)
        )

    def test_size_is_bound_by_the_root(self):
        """
        A neighbouring size with the same path shape passes only with this root.

        The RFC's check ties the size to the proof's shape, not to the root, so the
        size and the root must come from the same signed checkpoint.
        """
        proof = self._proof(0, 3)

        assert verify_inclusion(LEAVES[0], 0, 4, proof, _root(3))
        assert not verify_inclusion(LEAVES[0], 0, 4, proof, _root(4))

    def test_single_leaf_tree(self):
        """In a one-leaf tree the root is the leaf and the proof is empty."""
        leaf = leaf_hash(b"data")

        assert verify_inclusion(leaf, 0, 1, [], leaf)
        assert not verify_inclusion(leaf, 0, 1, [leaf], leaf)
        assert not verify_inclusion(leaf, 0, 1, [], EMPTY_ROOT)

    @pytest.mark.parametrize(
        ("leaf", "index", "size", "proof", "root"),
        [
            (LEAVES[0], 0, 0, [], EMPTY_ROOT),
            (LEAVES[0], 1, 1, [], LEAVES[0]),
            (LEAVES[0], -1, 1, [], LEAVES[0]),
            (LEAVES[0], 0, -1, [], LEAVES[0]),
            (LEAVES[0], True, 2, [LEAVES[1]], LEAVES[0]),
            (LEAVES[0][:31], 0, 1, [], LEAVES[0][:31]),
            (LEAVES[0] + b"\x00", 0, 1, [], LEAVES[0] + b"\x00"),
            (LEAVES[0].hex(), 0, 1, [], LEAVES[0].hex()),
            (None, 0, 1, [], None),
            (LEAVES[0], 0, 2, [LEAVES[1][:16]], _root(2)),
            (LEAVES[0], 0, 2, [None], _root(2)),
            (LEAVES[0], 0, 2, None, _root(2)),
            (LEAVES[0], 0, 2, [LEAVES[1]], None),
            (LEAVES[0], "0", 2, [LEAVES[1]], _root(2)),
            (LEAVES[0], 0, 2.0, [LEAVES[1]], _root(2)),
            (LEAVES[0], 0, 2**80, [LEAVES[1]] * 100, _root(2)),
        ],
    )
    def test_malformed(self, leaf, index, size, proof, root):
        """Malformed input is rejected, never raised on."""
        assert not verify_inclusion(leaf, index, size, proof, root)


class TestConsistencyProof:
    """consistency_addresses() and consistency_proof() against the RFC's PROOF."""

    def test_every_small_tree(self):
        """Every pair of sizes up to 70 gets PROOF, in one look-up."""
        pairs = [(m, n) for n in range(1, SMALL + 1) for m in range(1, n + 1)]
        stores = {pair: Store(pair[1]) for pair in pairs}

        assert {(m, n): _rfc_proof(m, DATA[:n], _rfc_mth) for m, n in pairs} == {
            (m, n): consistency_proof(m, n, stores[m, n]) for m, n in pairs
        }
        assert [len(store.calls) for store in stores.values()] == [
            0 if m == n else 1 for m, n in pairs
        ]

    @given(_old_and_new(low=SMALL))
    def test_larger_trees(self, old_and_new):
        """Pairs of larger trees get PROOF too."""
        old, new = old_and_new

        assert _rfc_proof(old, DATA[:new], _rfc_mth) == consistency_proof(
            old, new, Store(new)
        )

    @given(_old_and_new(high=2**62))
    def test_addresses_of_huge_trees(self, old_and_new):
        """The addresses are PROOF's subtrees, at most 2 log2(new) of them."""
        old, new = old_and_new
        addresses = consistency_addresses(old, new)

        assert [
            range_addresses(start, end)
            for start, end in _rfc_proof(old, range(new), _span)
        ] == addresses
        assert sum(map(len, addresses)) <= 2 * (new - 1).bit_length()

    def test_million(self):
        """A proof to a tree of a million leaves needs at most 2 log2(n) nodes."""
        new = 1_000_000
        worst = max(
            sum(map(len, consistency_addresses(old, new))) for old in range(1, new, 997)
        )

        assert worst <= 2 * 20

    def test_ct_vectors(self):
        """The published proofs of the CT test tree come out."""
        assert CT_CONSISTENCY == {
            (old, new): [h.hex() for h in consistency_proof(old, new, _ct_get)]
            for old, new in CT_CONSISTENCY
        }

    def test_trivial(self):
        """From the empty tree, or to the same size, the proof is empty."""
        store = Store(8)

        assert [] == consistency_proof(0, 8, store)
        assert [] == consistency_proof(8, 8, store)
        assert [] == consistency_proof(0, 0, store)
        assert [] == store.calls

    @pytest.mark.parametrize(("old", "new"), [(5, 4), (1, 0), (-1, 3), (-2, -1)])
    def test_bad_sizes(self, old, new):
        """Shrinking or negative sizes are refused."""
        with pytest.raises(ValueError, match="old"):
            consistency_proof(old, new, Store(max(new, 0)))


class TestVerifyConsistency:
    """verify_consistency(): RFC 9162 §2.1.4.2."""

    @staticmethod
    def _proof(old, new):
        return consistency_proof(old, new, Store(new))

    def test_accepts_every_honest_small_proof(self):
        """Every proof between trees up to 70 leaves verifies."""
        pairs = [(m, n) for n in range(SMALL + 1) for m in range(n + 1)]

        assert all(
            verify_consistency(m, n, _root(m), _root(n), self._proof(m, n))
            for m, n in pairs
        )

    @given(_old_and_new(low=SMALL))
    def test_accepts_honest_larger_proofs(self, old_and_new):
        """Proofs between larger trees verify."""
        old, new = old_and_new

        assert verify_consistency(
            old, new, _root(old), _root(new), self._proof(old, new)
        )

    def test_ct_vectors(self):
        """The published CT proofs verify against the published roots."""
        assert all(
            verify_consistency(
                old,
                new,
                bytes.fromhex(CT_ROOTS[old - 1]),
                bytes.fromhex(CT_ROOTS[new - 1]),
                [bytes.fromhex(h) for h in proof],
            )
            for (old, new), proof in CT_CONSISTENCY.items()
        )

    def test_every_bit_flip(self):
        """Flipping any bit of any element or of either root fails."""
        accepted = []
        for new in range(2, 13):
            for old in range(1, new):
                proof, old_root, new_root = (
                    self._proof(old, new),
                    _root(old),
                    _root(new),
                )
                for bit in range(256):
                    probes = [
                        (_flip_hash(old_root, bit), new_root, proof),
                        (old_root, _flip_hash(new_root, bit), proof),
                    ] + [
                        (old_root, new_root, _flip(proof, e, bit))
                        for e in range(len(proof))
                    ]
                    accepted += [
                        (old, new, bit)
                        for probe in probes
                        if verify_consistency(old, new, *probe)
                    ]

        assert [] == accepted

    def test_tampering_of_small_proofs(self):
        """Flips, truncation, extension, other sizes and swapped roots all fail."""
        accepted = []
        for new in range(2, SMALL + 1):
            new_root = _root(new)
            for old in range(1, new):
                proof, old_root = self._proof(old, new), _root(old)
                probes = [
                    (
                        old,
                        new,
                        old_root,
                        new_root,
                        _flip(proof, e, (e * 41 + old) % 256),
                    )
                    for e in range(len(proof))
                ]
                probes += [
                    (old, new, old_root, new_root, [*proof, extra])
                    for extra in (old_root, new_root, bytes(32), proof[-1])
                ]
                probes += [
                    (old, new, old_root, new_root, [extra, *proof])
                    for extra in (old_root, new_root, bytes(32), proof[0])
                ]
                probes += [
                    (old, new, old_root, new_root, proof[:-1]),
                    (old, new, old_root, new_root, proof[1:]),
                    (old, new, old_root, new_root, []),
                    (old, new, new_root, old_root, proof),
                    (old, new, old_root, old_root, proof),
                    (old, new, new_root, new_root, proof),
                    (old, new, EMPTY_ROOT, new_root, proof),
                    (new, old, new_root, old_root, proof),
                ]
                probes += [
                    (other, new, _root(other), new_root, proof)
                    for other in range(new + 1)
                    if other != old
                ]
                probes += [
                    (other, new, old_root, new_root, proof)
                    for other in (old - 1, old + 1, old ^ 2)
                    if other != old
                ]
                probes += [
                    (old, other, old_root, _root(other), proof)
                    for other in range(old, SMALL + 1)
                    if other != new
                ]
                probes += [
                    (old, other, old_root, new_root, proof)
                    for other in (new * 2, new // 2)
                    if other != new
                ]
                accepted += [
                    probe[:2] for probe in probes if verify_consistency(*probe)
                ]

        assert [] == accepted

    @settings(max_examples=50)
    @given(_old_and_new(low=2), st.data())
    def test_random_bit_flips(self, old_and_new, data):
        """A random bit flip in a larger proof fails."""
        old, new = old_and_new
        proof = self._proof(old, new)
        if not proof:
            return
        element = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))

        assert not verify_consistency(
            old, new, _root(old), _root(new), _flip(proof, element, bit)
        )

    @pytest.mark.parametrize(
        ("old", "new", "old_root", "new_root", "proof", "expected"),
        [
            # The same size: equal roots and an empty proof.
            (3, 3, _root(3), _root(3), [], True),
            (3, 3, _root(3), _root(4), [], False),
            (3, 3, _root(3), _root(3), [_root(3)], False),
            (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
            (0, 0, _root(1), _root(1), [], False),
            (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
            # From the empty tree: its root and an empty proof.
            (0, 5, EMPTY_ROOT, _root(5), [], True),
            (0, 5, _root(1), _root(5), [], False),
            (0, 5, EMPTY_ROOT, _root(5), [EMPTY_ROOT], False),
            # Different sizes need a proof.
            (1, 2, _root(1), _root(2), [], False),
            # Time travel.
            (2, 1, _root(2), _root(1), [], False),
            (4, 3, _root(4), _root(3), [], False),
        ],
    )
    def test_special_cases(self, old, new, old_root, new_root, proof, expected):
        """Equal sizes and the empty tree follow the documented rules."""
        assert expected == verify_consistency(old, new, old_root, new_root, proof)

    @pytest.mark.parametrize(
        ("old", "new", "old_root", "new_root", "proof"),
        [
            (-1, 2, _root(1), _root(2), []),
            (1, -2, _root(1), _root(2), []),
            (True, 2, _root(1), _root(2), [LEAVES[1]]),
            (1, 2.0, _root(1), _root(2), [LEAVES[1]]),
            (1, 2, _root(1)[:31], _root(2), [LEAVES[1]]),
            (1, 2, _root(1), _root(2).hex(), [LEAVES[1]]),
            (1, 2, None, None, [LEAVES[1]]),
            (1, 2, _root(1), _root(2), None),
            (1, 2, _root(1), _root(2), [LEAVES[1][:31]]),
            (1, 2, _root(1), _root(2), [None]),
            (3, 4, _root(3), _root(4), [None, None, None]),
            (3, 4, _root(3), _root(4), [b"", b"", b""]),
            (1, 2**80, _root(1), _root(2), [LEAVES[1]] * 100),
        ],
    )
    def test_malformed(self, old, new, old_root, new_root, proof):
        """Malformed input is rejected, never raised on."""
        assert not verify_consistency(old, new, old_root, new_root, proof)

    def test_sequence_of_checkpoints(self):
        """Proofs chain: each checkpoint is consistent with the next."""
        sizes = [1, 2, 3, 7, 8, 9, 31, 64, 65, 200, 1024, 2049]

        assert all(
            verify_consistency(a, b, _root(a), _root(b), self._proof(a, b))
            for a, b in itertools.pairwise(sizes)
        )
