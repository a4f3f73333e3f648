"""The profile: one format for batch checks and the model-access defence, without rows."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from atlasgate.data.errors import DataError
from atlasgate.data.profile import Profile


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_breast_cancer(as_frame=True).frame
    order = np.random.default_rng(0).permutation(len(frame))
    return frame.iloc[order[:300]].reset_index(drop=True), frame.iloc[order[300:]].reset_index(drop=True)


@pytest.fixture(scope="module")
def profile(split) -> Profile:
    return Profile.learn(split[0], "target")


def test_save_and_load_keep_scores_and_hashes(profile, split, tmp_path):
    path = tmp_path / "profile.json"
    profile.save(path)
    loaded = Profile.load(path)
    features = split[1].drop(columns="target")
    assert np.allclose(loaded.novelty(features), profile.novelty(features), atol=1e-4)
    assert loaded.row_hashes == profile.row_hashes
    assert loaded.ranges == profile.ranges
    assert loaded.label_model.proba(loaded.encode(features)).shape == (len(features), 2)


def test_training_rows_are_found_by_salted_hash_and_others_are_not(profile, split):
    base, held = split
    row = base.drop(columns="target").iloc[7]
    assert profile.contains(row.to_dict())
    assert profile.hash_row(list(row)) in profile.row_hashes
    assert profile.hash_row([str(v) for v in row]) in profile.row_hashes  # "1.0" == 1.0
    hits = sum(profile.contains(r) for r in held.drop(columns="target").to_dict("records"))
    assert hits == 0
    other = Profile.learn(base.iloc[:50], "target", salt=b"another salt")
    assert other.hash_row(row.to_dict()) != profile.hash_row(row.to_dict())


def test_profile_file_holds_no_training_row(profile, tmp_path):
    profile.save(tmp_path / "p.json")
    record = orjson.loads((tmp_path / "p.json").read_bytes())
    assert "rows" in record["hashing"]
    text = (tmp_path / "p.json").read_text()
    assert "mean radius" in text
    assert len(record["novelty"]["centres"]) < profile.rows / 10


def test_novelty_separates_noise_from_held_out_rows(profile, split):
    held = split[1].drop(columns="target")
    clean = profile.novelty(held)
    assert np.mean(clean > profile.novelty_threshold) < 0.05
    rng = np.random.default_rng(1)
    noise = pd.DataFrame(
        {c: rng.uniform(*profile.ranges[c], 100) for c in held.columns}, columns=held.columns
    )
    assert np.mean(profile.novelty(noise) > profile.novelty_threshold) > 0.9


def test_novelty_accepts_plain_vectors_in_feature_order(profile, split):
    held = split[1].drop(columns="target")
    assert np.allclose(profile.novelty(held.to_numpy()[:5]), profile.novelty(held.iloc[:5]))
    with pytest.raises(DataError, match="30 values"):
        profile.novelty([[1.0, 2.0]])


def test_ranges_cover_the_baseline_with_a_margin(profile, split):
    low, high = profile.ranges["mean radius"]
    assert low <= split[0]["mean radius"].min()
    assert high >= split[0]["mean radius"].max()
    assert low >= 0  # a non-negative feature keeps a non-negative bound


def test_label_model_is_accurate_out_of_sample(profile):
    assert profile.label_model is not None
    assert profile.label_model.accuracy > 0.9


def test_bad_inputs_give_clear_errors(split, tmp_path):
    with pytest.raises(DataError, match="label column 'nope' not found"):
        Profile.learn(split[0], "nope")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match=r"bad\.json: profile is not valid JSON"):
        Profile.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="not an AtlasGate data profile"):
        Profile.load(tmp_path / "other.json")


def test_unlabelled_profile_has_no_label_model(split):
    profile = Profile.learn(split[0].drop(columns="target"), None)
    assert profile.label_model is None
    assert profile.classes == []


def test_label_doubt_is_the_share_of_clean_rows_given_as_little(profile, split, tmp_path):
    model = profile.label_model
    assert model is not None
    held = split[1]
    matrix = profile.encode(held.drop(columns="target"))
    labels = held["target"].to_numpy()
    own = model.proba(matrix)[np.arange(len(held)), labels]
    flipped = model.proba(matrix)[np.arange(len(held)), 1 - labels]
    # Rows with their true label are rarely doubted; the same rows with the other label are.
    assert np.median(model.doubt(own, labels)) > 0.3
    assert np.median(model.doubt(flipped, 1 - labels)) < 0.05
    # Doubt is read per class: few clean rows of either class, the smaller one included,
    # are doubted at the 5% level.
    for c in (0, 1):
        assert np.mean(model.doubt(own[labels == c], labels[labels == c]) <= 0.05) < 0.12
    path = tmp_path / "profile.json"
    profile.save(path)
    loaded = Profile.load(path).label_model
    assert loaded is not None
    assert np.array_equal(loaded.doubt(flipped, 1 - labels), model.doubt(flipped, 1 - labels))
