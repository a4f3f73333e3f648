"""RFC 6962 Merkle tree hashing, compact ranges, and inclusion/consistency proofs.

Leaves are ``H(0x00 || entry)`` and interior nodes ``H(0x01 || left || right)`` with
SHA-256, so a leaf can never be passed off as a node. A tree of n leaves splits at the
largest power of two below n, with no padding. Verifiers check the index, the sizes and
the exact proof length before hashing anything, and fail with a typed error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from atlasgate.audit.errors import IndexOutOfRangeError, ProofLengthError, RootMismatchError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return leaves[lo]
    k = _split(hi - lo)
    return node_hash(_subtree_root(leaves, lo, lo + k), _subtree_root(leaves, lo + k, hi))


def root_of(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of the given leaf hashes (the RFC's recursive definition)."""
    if not leaves:
        return EMPTY_ROOT
    return _subtree_root(leaves, 0, len(leaves))


class CompactRange:
    """The roots of the perfect subtrees covering leaves [0, size).

    Appending costs amortised O(1) hashes and the root O(log n), so the writer can keep
    the running root without re-reading the log.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self, size: int = 0, nodes: Iterable[bytes] = ()) -> None:
        nodes = list(nodes)
        if len(nodes) != size.bit_count():
            raise ValueError(f"a compact range of size {size} has {size.bit_count()} nodes, not {len(nodes)}")
        self._size = size
        self._nodes = nodes

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> CompactRange:
        compact = cls()
        for leaf in leaves:
            compact.append(leaf)
        return compact

    @property
    def size(self) -> int:
        return self._size

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """Subtree roots, largest (leftmost) first."""
        return tuple(self._nodes)

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._nodes)

    def append(self, leaf: bytes) -> None:
        node = leaf
        size = self._size
        nodes = self._nodes
        while size & 1:
            node = node_hash(nodes.pop(), node)
            size >>= 1
        nodes.append(node)
        self._size += 1

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        nodes = self._nodes
        root = nodes[-1]
        for node in reversed(nodes[:-1]):
            root = node_hash(node, root)
        return root


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of all ``leaves`` (RFC 6962 2.1.1)."""
    size = len(leaves)
    if not 0 <= index < size:
        raise IndexOutOfRangeError(f"leaf index {index} is outside a tree of size {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(_subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_subtree_root(leaves, lo, lo + k))
            lo = lo + k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of ``leaves`` (RFC 6962 2.1.2)."""
    size = len(leaves)
    if not 0 <= old_size <= size:
        raise IndexOutOfRangeError(f"old size {old_size} is outside 0..{size}")
    if old_size in (0, size):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole = 0, size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_subtree_root(leaves, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(_subtree_root(leaves, lo, hi))
    proof.reverse()
    return proof


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    for position, item in enumerate(proof):
        if not isinstance(item, bytes) or len(item) != HASH_SIZE:
            raise ProofLengthError(f"{what} hash {position} is not {HASH_SIZE} bytes")


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """(inner, border) lengths of an inclusion proof, which fix its exact length."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        seed = node_hash(sibling, seed) if (index >> level) & 1 else node_hash(seed, sibling)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        if (index >> level) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    if not 0 <= index < size:
        raise IndexOutOfRangeError(f"leaf index {index} is not below tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofLengthError(f"leaf hash is {len(leaf)} bytes, not {HASH_SIZE}")
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofLengthError(
            f"inclusion proof for leaf {index} of {size} needs {inner + border} hashes, got {len(proof)}"
        )
    _check_hashes(proof, "inclusion proof")
    return _chain_border(_chain_inner(leaf, proof[:inner], index), proof[inner:])


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise a ProofError unless ``proof`` places ``leaf`` at ``index`` under ``root``."""
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:
        raise RootMismatchError(root, computed)


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Raise a ProofError unless the old tree is a prefix of the new one."""
    if not 0 <= old_size <= new_size:
        raise IndexOutOfRangeError(f"old size {old_size} is not within 0..{new_size}")
    if old_size == new_size:
        if proof:
            raise ProofLengthError("equal sizes need an empty consistency proof")
        if old_root != new_root:
            raise RootMismatchError(new_root, old_root)
        return
    if old_size == 0:
        if proof:
            raise ProofLengthError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofLengthError("consistency proof is empty")
    inner, border = _inclusion_shape(old_size - 1, new_size)
    shift = (old_size & -old_size).bit_length() - 1
    inner -= shift
    if old_size == 1 << shift:
        seed, rest = old_root, proof
    else:
        seed, rest = proof[0], proof[1:]
    expected = len(proof) - len(rest) + inner + border
    if len(proof) != expected:
        raise ProofLengthError(
            f"consistency proof {old_size} -> {new_size} needs {expected} hashes, got {len(proof)}"
        )
    _check_hashes(proof, "consistency proof")
    mask = (old_size - 1) >> shift
    computed_old = _chain_border(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if computed_old != old_root:
        raise RootMismatchError(old_root, computed_old)
    computed_new = _chain_border(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if computed_new != new_root:
        raise RootMismatchError(new_root, computed_new)
