"""Hypothesis strategies for CEL conditions, shared by the policy property tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

Extend = Callable[[st.SearchStrategy[str]], st.SearchStrategy[str]]


def boolean_conditions(relations: st.SearchStrategy[str], max_leaves: int,
                       *more: Extend) -> st.SearchStrategy[str]:
    """``relations`` joined by ``!``, ``&&`` and ``||`` (parenthesised), plus whatever
    combinators ``more`` builds from the inner strategy."""
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.builds(lambda a: f"!({a})", inner),
            st.builds(lambda a, b: f"({a}) && ({b})", inner, inner),
            st.builds(lambda a, b: f"({a}) || ({b})", inner, inner),
            *(build(inner) for build in more),
        )

    return st.recursive(relations, extend, max_leaves=max_leaves)
