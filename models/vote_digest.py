"""The digest published when a vote closes: a Merkle root over every counted household choice.

A voter keeps the receipt code given when the ballot was accepted. After the close, the leaf of
each household the ballot covered, with its proof, hashes up to the published root exactly when
that ballot is the one counted for that household — so anyone holding a receipt can check that it
was counted without learning anyone else's choice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"qilijia-vote-empty").hexdigest()


def receipt_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def leaf(vote_id: str, household_id: str, choice: str, ballot_receipt_hash: str) -> str:
    material = "\x00".join(("qilijia-ballot", vote_id, household_id, choice, ballot_receipt_hash))
    return hashlib.sha256(material.encode()).hexdigest()


def _parent(left: str, right: str) -> str:
    return hashlib.sha256(bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


@dataclass(frozen=True)
class Step:
    sibling: str
    sibling_on_left: bool


def _levels(leaves: Sequence[str]) -> list[list[str]]:
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        padded = [*level, level[-1]] if len(level) % 2 else level
        levels.append([_parent(padded[i], padded[i + 1]) for i in range(0, len(padded), 2)])
    return levels


def root(leaves: Sequence[str]) -> str:
    """Leaves must be given in a canonical order (by household id)."""
    return _levels(leaves)[-1][0] if leaves else EMPTY_ROOT


def proof(leaves: Sequence[str], index: int) -> list[Step]:
    steps: list[Step] = []
    for level in _levels(leaves)[:-1]:
        padded = [*level, level[-1]] if len(level) % 2 else level
        sibling = index ^ 1
        steps.append(Step(padded[sibling], sibling_on_left=sibling < index))
        index //= 2
    return steps


def verify(leaf_hash: str, steps: Sequence[Step], expected_root: str) -> bool:
    current = leaf_hash
    for step in steps:
        current = _parent(step.sibling, current) if step.sibling_on_left else _parent(current, step.sibling)
    return current == expected_root
