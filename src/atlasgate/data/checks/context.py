"""What every check reads: the profile, the batch, and the batch encoded once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from atlasgate.data.profile import Profile
from atlasgate.data.settings import CheckSettings


@dataclass
class BatchView:
    profile: Profile
    frame: pd.DataFrame
    settings: CheckSettings

    @property
    def m(self) -> int:
        return int(self.frame.shape[0])

    @property
    def n(self) -> int:
        return self.profile.rows

    @cached_property
    def matrix(self) -> np.ndarray:
        return self.profile.encoder.transform(self.frame)

    @cached_property
    def labels(self) -> np.ndarray | None:
        """Batch labels as indices into ``profile.classes``; -1 for a label never seen."""
        label = self.profile.label
        if label is None or label not in self.frame.columns:
            return None
        index = {str(c): i for i, c in enumerate(self.profile.classes)}
        out = np.full(self.m, -1, dtype=int)
        for r, value in enumerate(self.frame[label].tolist()):
            out[r] = index.get(_key(value), -1)
        return out

    @cached_property
    def hashes(self) -> list[str]:
        return self.profile.hash_rows(self.frame)


def _key(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return _key(value.item())
    return str(value)
