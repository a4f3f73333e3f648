"""RFC 6962 Merkle hashing, compact ranges and proofs, against the published CT vectors."""

from __future__ import annotations

import hashlib

import pytest

from atlasgate.audit.errors import IndexOutOfRangeError, ProofLengthError, RootMismatchError
from atlasgate.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The eight leaf inputs and tree heads of the Certificate Transparency reference tests.
CT_INPUTS = [
    bytes.fromhex(h)
    for h in [
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
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_LEAVES = [leaf_hash(data) for data in CT_INPUTS]
# (leaf index, tree size, audit path)
CT_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry-{i}".encode()) for i in range(n)]


def _flip(data: bytes, bit: int = 3) -> bytes:
    return bytes([data[0] ^ (1 << bit)]) + data[1:]


def test_empty_tree_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert root_of([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_carry_domain_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert leaf_hash(a + b) != node_hash(a, b)


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_reference_tree_heads(size: int) -> None:
    assert root_of(CT_LEAVES[:size]).hex() == CT_ROOTS[size]
    assert CompactRange.from_leaves(CT_LEAVES[:size]).root().hex() == CT_ROOTS[size]


def test_incremental_root_equals_recursive_root_for_every_size_to_130() -> None:
    leaves = _leaves(130)
    compact = CompactRange()
    assert compact.root() == root_of([])
    for n in range(1, 131):
        compact.append(leaves[n - 1])
        assert compact.size == n
        assert len(compact.nodes) == n.bit_count()
        assert compact.root() == root_of(leaves[:n]), n


def test_compact_range_restores_from_its_nodes() -> None:
    leaves = _leaves(77)
    first = CompactRange.from_leaves(leaves[:45])
    resumed = CompactRange(first.size, first.nodes)
    for leaf in leaves[45:]:
        resumed.append(leaf)
    assert resumed.root() == root_of(leaves)
    with pytest.raises(ValueError, match="nodes"):
        CompactRange(45, first.nodes[:-1])


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, CT_LEAVES[:size])
    assert [node.hex() for node in proof] == path
    verify_inclusion(index, size, CT_LEAVES[index], proof, bytes.fromhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_reference(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, CT_LEAVES[:new])
    assert [node.hex() for node in proof] == path
    verify_consistency(old, new, proof, bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new]))


def test_every_inclusion_proof_verifies_in_trees_up_to_40() -> None:
    leaves = _leaves(40)
    for size in range(1, 41):
        root = root_of(leaves[:size])
        for index in range(size):
            proof = inclusion_proof(index, leaves[:size])
            verify_inclusion(index, size, leaves[index], proof, root)


def test_every_consistency_proof_verifies_in_trees_up_to_33() -> None:
    leaves = _leaves(33)
    roots = [root_of(leaves[:n]) for n in range(34)]
    for new in range(34):
        for old in range(new + 1):
            proof = consistency_proof(old, leaves[:new])
            verify_consistency(old, new, proof, roots[old], roots[new])


def test_inclusion_rejects_index_beyond_size_before_hashing() -> None:
    with pytest.raises(IndexOutOfRangeError):
        verify_inclusion(8, 8, CT_LEAVES[0], [], bytes.fromhex(CT_ROOTS[8]))
    with pytest.raises(IndexOutOfRangeError):
        verify_inclusion(0, 0, CT_LEAVES[0], [], EMPTY_ROOT)
    with pytest.raises(IndexOutOfRangeError):
        inclusion_proof(3, CT_LEAVES[:3])


def test_inclusion_rejects_a_proof_of_the_wrong_length() -> None:
    index, size, path = CT_INCLUSION[1]
    proof = [bytes.fromhex(h) for h in path]
    root = bytes.fromhex(CT_ROOTS[size])
    with pytest.raises(ProofLengthError):
        verify_inclusion(index, size, CT_LEAVES[index], [*proof, proof[0]], root)  # trailing
    with pytest.raises(ProofLengthError):
        verify_inclusion(index, size, CT_LEAVES[index], proof[:-1], root)  # truncated
    with pytest.raises(ProofLengthError):
        verify_inclusion(index, size, CT_LEAVES[index], [*proof[:-1], proof[-1][:31]], root)


def test_inclusion_rejects_tampered_inputs_with_root_mismatch() -> None:
    index, size, path = CT_INCLUSION[1]
    proof = [bytes.fromhex(h) for h in path]
    root = bytes.fromhex(CT_ROOTS[size])
    for position in range(len(proof)):
        modified = list(proof)
        modified[position] = _flip(modified[position])
        with pytest.raises(RootMismatchError):
            verify_inclusion(index, size, CT_LEAVES[index], modified, root)
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, CT_LEAVES[index + 1], proof, root)  # wrong leaf
    with pytest.raises(RootMismatchError):
        verify_inclusion(index - 1, size, CT_LEAVES[index], proof, root)  # wrong index
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, CT_LEAVES[index], proof, _flip(root))
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, CT_LEAVES[index], list(reversed(proof)), root)


def test_consistency_rejects_bad_sizes_lengths_and_roots() -> None:
    leaves = _leaves(21)
    proof = consistency_proof(7, leaves)
    old, new = root_of(leaves[:7]), root_of(leaves)
    verify_consistency(7, 21, proof, old, new)
    with pytest.raises(IndexOutOfRangeError):
        verify_consistency(22, 21, proof, old, new)
    with pytest.raises(ProofLengthError):
        verify_consistency(7, 21, [*proof, proof[0]], old, new)
    with pytest.raises(ProofLengthError):
        verify_consistency(7, 21, [], old, new)
    with pytest.raises(ProofLengthError):
        verify_consistency(21, 21, proof, new, new)
    with pytest.raises(ProofLengthError):
        verify_consistency(0, 21, proof, EMPTY_ROOT, new)
    with pytest.raises(RootMismatchError):
        verify_consistency(7, 21, proof, _flip(old), new)
    with pytest.raises(RootMismatchError):
        verify_consistency(7, 21, proof, old, _flip(new))
    with pytest.raises(RootMismatchError):
        verify_consistency(7, 21, [_flip(proof[0]), *proof[1:]], old, new)
    with pytest.raises(RootMismatchError):
        verify_consistency(21, 21, [], new, old)
