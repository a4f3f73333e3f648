"""Every check fires on its own kind of poison and stays quiet on clean data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from atlasgate.data.checks import check_batch
from atlasgate.data.checks.distribution import rows_to_see_drop
from atlasgate.data.errors import DataError
from atlasgate.data.policy import DataPolicy
from atlasgate.data.profile import Profile
from atlasgate.data.settings import CheckSettings
from atlasgate.policy.decision import Action


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_breast_cancer(as_frame=True).frame
    order = np.random.default_rng(3).permutation(len(frame))
    half = len(frame) // 2
    return frame.iloc[order[:half]].reset_index(drop=True), frame.iloc[order[half:]].reset_index(drop=True)


@pytest.fixture(scope="module")
def profile(split) -> Profile:
    return Profile.learn(split[0], "target", seed=1)


def mixed_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2])
    return pd.DataFrame(
        {
            "x": x,
            "upper": x + rng.uniform(0.5, 2.0, n),
            "colour": colour,
            "note": [f"customer note number {i} about the order" for i in rng.integers(0, 10**6, n)],
            "label": np.where(x + (colour == "red") > 0.5, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def mixed() -> tuple[Profile, pd.DataFrame]:
    rng = np.random.default_rng(5)
    return Profile.learn(mixed_frame(400, rng), "label"), mixed_frame(200, rng)


def rows_of(report, check):
    return report.flagged_rows(check)


def test_clean_batch_is_allowed_without_strong_findings(profile, split):
    report = check_batch(profile, split[1])
    assert report.decision == Action.ALLOW
    assert not [f for f in report.findings if f.strength != "weak"]


def test_label_flips_are_found_row_by_row_and_block(profile, split):
    batch = split[1].copy()
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(batch), 28, replace=False)
    batch.loc[flipped, "target"] = 1 - batch.loc[flipped, "target"]
    report = check_batch(profile, batch)
    found = rows_of(report, "label_flips")
    truth = set(flipped.tolist())
    assert len(found & truth) / len(found) >= 0.7
    assert len(found & truth) / len(truth) >= 0.8
    assert report.decision == Action.BLOCK
    assert "AML.T0020" in report.techniques


def test_backdoor_trigger_rows_and_pattern_are_named(profile, split):
    base, batch = split[0], split[1].copy()
    rng = np.random.default_rng(1)
    victims = rng.choice(np.flatnonzero(batch["target"] == 1), 25, replace=False)
    trigger = {
        f: float(np.quantile(base[f], 0.975, method="nearest")) for f in ("mean area", "worst symmetry")
    }
    for feature, value in trigger.items():
        batch.loc[victims, feature] = value
    batch.loc[victims, "target"] = 0
    report = check_batch(profile, batch)
    [finding] = report.by_check("backdoor_trigger")
    found, truth = set(finding.rows), set(victims.tolist())
    assert len(found & truth) / len(truth) >= 0.9
    assert len(found & truth) / len(found) >= 0.8
    assert set(finding.features) <= {"mean area", "worst symmetry"}
    assert finding.detail["target_label"] == 0
    assert "AML.T0043.004" in finding.techniques
    assert report.decision == Action.BLOCK


def test_global_shift_is_drift_for_review(profile, split):
    base, batch = split[0], split[1].copy()
    for column in base.columns.drop("target"):
        batch[column] = batch[column] + 0.5 * base[column].std()
    report = check_batch(profile, batch)
    [drift] = report.by_check("feature_drift")
    assert drift.p_value < 1e-3
    assert drift.effect["max_psi"] >= 0.1
    assert "Kolmogorov" in drift.test
    assert "Holm" in drift.test
    assert report.decision >= Action.REVIEW


def test_minority_class_drop_is_flagged(profile, split):
    batch = split[1]
    minority = np.flatnonzero(batch["target"] == 0)
    dropped = batch.drop(index=minority[: int(0.6 * len(minority))]).reset_index(drop=True)
    report = check_batch(profile, dropped)
    [shift] = report.by_check("class_shift")
    assert shift.effect["largest_relative_change"] < -0.1
    assert "chi-square" in shift.test
    assert report.decision == Action.REVIEW


def test_drift_inside_one_class_is_seen(profile, split):
    batch = split[1].copy()
    rows = batch["target"] == 1
    batch.loc[rows, "mean texture"] = batch.loc[rows, "mean texture"] * 1.6
    report = check_batch(profile, batch)
    [finding] = report.by_check("label_conditional_drift")
    assert "mean texture" in finding.features
    assert 1 in finding.detail["classes"]


def test_impossible_values_and_broken_orderings(profile, split):
    batch = split[1].copy()
    batch.loc[[3, 9, 11, 20, *range(40, 56)], "mean radius"] = -5.0
    batch.loc[[50, 51, 52, 53, 54, 55, 56, 57, 58, 59], "worst radius"] = 1.0
    report = check_batch(profile, batch)
    assert {3, 9, 11, 20} <= rows_of(report, "out_of_range")
    assert {50, 51, 52} <= rows_of(report, "broken_constraint")
    assert report.decision == Action.BLOCK


def test_out_of_distribution_rows_are_flagged(profile, split):
    base, batch = split
    rng = np.random.default_rng(2)
    features = base.columns.drop("target")
    fake = pd.DataFrame({f: rng.uniform(base[f].min(), base[f].max(), 15) for f in features})
    fake["target"] = 1
    mixed = pd.concat([batch, fake[batch.columns]], ignore_index=True)
    report = check_batch(profile, mixed)
    found = rows_of(report, "novelty")
    injected = set(range(len(batch), len(mixed)))
    assert len(found & injected) >= 13
    assert len(found - injected) <= 3


def test_duplicate_injection_is_flagged(profile, split):
    batch = split[1]
    copies = batch.iloc[[5] * 12 + [6] * 8]
    report = check_batch(profile, pd.concat([batch, copies], ignore_index=True))
    [finding] = report.by_check("duplicates")
    assert set(range(len(batch), len(batch) + 20)) <= set(finding.rows)
    assert finding.detail["exact_copies"] >= 20
    assert finding.strength == "strong"


def test_replayed_training_rows_are_reported(profile, split):
    report = check_batch(profile, split[0].iloc[:40])
    [finding] = report.by_check("duplicates")
    assert finding.detail["replayed_baseline_rows"] == 40


def test_schema_breaks_block(profile, split):
    report = check_batch(profile, split[1].drop(columns=["mean radius"]))
    assert report.decision == Action.BLOCK
    assert "mean radius" in report.by_check("schema")[0].features
    relabelled = split[1].copy()
    relabelled.loc[:4, "target"] = 7
    report = check_batch(profile, relabelled)
    assert report.decision == Action.BLOCK
    assert {0, 1, 2, 3, 4} <= rows_of(report, "schema")
    texty = split[1].astype({"mean radius": object})
    texty.loc[:30, "mean radius"] = "n/a"
    assert check_batch(profile, texty).decision == Action.BLOCK


def test_categorical_text_and_constraint_columns(mixed):
    profile, batch = mixed
    assert {c.name: c.kind for c in profile.columns} == {
        "x": "numeric",
        "upper": "numeric",
        "colour": "categorical",
        "note": "text",
        "label": "categorical",
    }
    assert ("x", "upper") in profile.constraints
    assert check_batch(profile, batch).decision == Action.ALLOW
    bad = batch.copy()
    bad.loc[:19, "colour"] = "purple"
    report = check_batch(profile, bad)
    assert set(range(20)) <= rows_of(report, "unseen_category")
    assert report.decision == Action.BLOCK


def test_backdoor_on_a_categorical_value(mixed):
    profile, batch = mixed
    poisoned = batch.copy()
    victims = np.flatnonzero(poisoned["label"] == "yes")[:20]
    poisoned.loc[victims, "colour"] = "blue"
    poisoned.loc[victims, "x"] = 2.5
    poisoned.loc[victims, "label"] = "no"
    report = check_batch(profile, poisoned)
    assert set(victims.tolist()) <= rows_of(report, "backdoor_trigger")


def test_reports_render_for_people_and_pipelines(profile, split):
    batch = split[1].copy()
    batch.loc[:30, "target"] = 1 - batch.loc[:30, "target"]
    report = check_batch(profile, batch, batch_name="b<1>.csv")
    record = __import__("json").loads(report.to_json())
    assert record["decision"] == "BLOCK"
    assert record["findings"][0]["test"]
    assert record["findings"][0]["techniques"]
    html = report.to_html()
    assert "b&lt;1&gt;.csv" in html
    assert "BLOCK" in html
    assert "label_flips" in html
    assert "label_flips" in report.to_text()


def test_a_custom_policy_changes_the_decision(profile, split, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - id: strict\n    check: '*'\n    strength: weak\n    action: BLOCK\n")
    settings = CheckSettings(policy=DataPolicy.load(path))
    report = check_batch(profile, split[1], settings)
    assert report.decision == Action.BLOCK
    assert report.rules == ["strict"]


def test_bad_policies_name_the_line(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "rules:\n  - id: r1\n    action: REVIEW\n  - id: r2\n    check: nope\n    action: BLOCK\n"
    )
    with pytest.raises(DataError, match=r"policy.yaml:4: rule 2: unknown check 'nope'"):
        DataPolicy.load(path)
    path.write_text("rules:\n  - id: r1\n    action: CONSTRAIN\n")
    with pytest.raises(DataError, match="only be ALLOW, REVIEW or BLOCK"):
        DataPolicy.load(path)
    path.write_text("rules: [\n")
    with pytest.raises(DataError, match="not valid YAML"):
        DataPolicy.load(path)


def test_settings_from_config_section():
    settings = CheckSettings.from_mapping({"alpha": 0.01, "checks": ["schema", "novelty"]})
    assert settings.alpha == 0.01
    assert settings.checks == ("schema", "novelty")
    with pytest.raises(DataError, match=r"unknown setting data_checks\.speed"):
        CheckSettings.from_mapping({"speed": 3})


def test_report_becomes_a_decision_and_event_fields(profile, split):
    batch = split[1].copy()
    batch.loc[:30, "target"] = 1 - batch.loc[:30, "target"]
    report = check_batch(profile, batch)
    decision = report.as_decision("d-1")
    assert decision.action == Action.BLOCK
    assert decision.rule in report.rules
    assert "AML.T0020" in decision.techniques
    fields = report.event_fields()
    assert fields["api.method"] == "ingest"
    assert fields["detection.data.label_flips"] == "strong"


def gaussian_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(size=(n, 8))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    frame["y"] = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return frame


def test_spectral_signature_points_at_a_noisy_trigger_cluster():
    rng = np.random.default_rng(0)
    profile = Profile.learn(gaussian_frame(600, rng), "y")
    clean = gaussian_frame(400, rng)
    assert not check_batch(profile, clean).by_check("spectral_signature")
    batch = clean.copy()
    victims = np.flatnonzero(batch["y"] == 0)[:25]
    batch.loc[victims, "f5"] += 6 + rng.normal(0, 0.3, 25)
    batch.loc[victims, "f6"] -= 6 + rng.normal(0, 0.3, 25)
    batch.loc[victims, "y"] = 1
    [finding] = check_batch(profile, batch).by_check("spectral_signature")
    assert len(set(finding.rows) & set(victims.tolist())) >= 20
    assert len(set(finding.rows) - set(victims.tolist())) <= 2
    assert {"f5", "f6"} <= set(finding.features)
    assert finding.strength == "weak"


def test_near_replays_of_training_rows_are_found(profile, split):
    base, batch = split
    rng = np.random.default_rng(4)
    replays = base.sample(15, random_state=2).reset_index(drop=True)
    for column in base.columns.drop("target"):
        replays[column] = replays[column] + rng.normal(0, 0.01 * base[column].std(), 15)
    assert not profile.near_matches(batch).any()
    assert profile.near_matches(replays).all()
    report = check_batch(profile, pd.concat([batch, replays], ignore_index=True))
    [finding] = report.by_check("duplicates")
    assert finding.detail["near_replayed_baseline_rows"] == 15
    assert set(finding.rows) == set(range(len(batch), len(batch) + 15))


def trigger(base: pd.DataFrame, batch: pd.DataFrame, victims: np.ndarray, label: int) -> pd.DataFrame:
    """Two features set to the baseline's 97.5th percentile (in range), label set to ``label``."""
    poisoned = batch.copy()
    for feature in ("mean area", "worst symmetry"):
        poisoned.loc[victims, feature] = float(np.quantile(base[feature], 0.975, method="nearest"))
    poisoned.loc[victims, "target"] = label
    return poisoned


@pytest.mark.parametrize("rows", [3, 4])
def test_a_trigger_on_three_or_four_rows_is_found(profile, split, rows):
    base, batch = split
    victims = np.flatnonzero(batch["target"] == 1)[10 : 10 + rows]
    report = check_batch(profile, trigger(base, batch, victims, 0))
    [finding] = report.by_check("backdoor_trigger")
    assert set(finding.rows) == set(victims.tolist())
    assert set(finding.features) == {"mean area", "worst symmetry"}
    assert finding.detail["target_label"] == 0
    assert finding.p_value < 1e-3
    assert finding.strength in ("moderate", "strong")
    assert "doubts" in finding.explanation
    assert report.decision >= Action.REVIEW


def test_rare_values_on_rows_whose_labels_fit_are_not_a_trigger(profile, split):
    base, batch = split
    # The same shared rare values, but the rows keep a label the model agrees with.
    victims = np.flatnonzero(batch["target"] == 1)[10:14]
    report = check_batch(profile, trigger(base, batch, victims, 1))
    assert not report.by_check("backdoor_trigger")


def test_label_flips_are_not_mistaken_for_a_trigger(profile, split):
    batch = split[1].copy()
    flipped = np.random.default_rng(0).choice(len(batch), 28, replace=False)
    batch.loc[flipped, "target"] = 1 - batch.loc[flipped, "target"]
    report = check_batch(profile, batch)
    assert report.by_check("label_flips")
    assert not report.by_check("backdoor_trigger")


def test_clean_resamples_raise_no_backdoor_finding(profile, split):
    rng = np.random.default_rng(8)
    for _ in range(10):
        batch = split[1].sample(frac=0.6, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)
        assert not check_batch(profile, batch).by_check("backdoor_trigger")


def labels_only(counts: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"y": np.repeat(list(counts), list(counts.values())), "x": 0.0})


@pytest.fixture(scope="module")
def class_profile() -> Profile:
    """A profile whose class counts are those of a 40,000-row baseline (80% / 20%)."""
    rng = np.random.default_rng(2)
    small = pd.DataFrame({"x": rng.normal(size=200), "y": rng.choice([0, 1], 200, p=[0.8, 0.2])})
    return dataclasses.replace(Profile.learn(small, "y"), rows=40_000, class_counts=[32_000, 8_000])


def test_a_ten_percent_minority_drop_is_seen_in_a_large_batch(class_profile):
    only = CheckSettings(checks=("class_shift",))
    clean = check_batch(class_profile, labels_only({0: 32_000, 1: 8_000}), only)
    assert not clean.by_check("class_shift")
    report = check_batch(class_profile, labels_only({0: 32_000, 1: 7_200}), only)
    [shift] = report.by_check("class_shift")
    assert shift.detail["significant"]
    assert shift.detail["class"] == 1
    assert shift.effect["largest_relative_change"] == pytest.approx(-0.1, abs=0.001)
    assert "one-sided" in shift.test
    assert shift.p_value < 1e-3
    assert report.decision == Action.REVIEW  # class balance is held for a person, never blocked


def test_a_small_batch_says_it_is_too_small_to_see_a_ten_percent_drop(class_profile):
    only = CheckSettings(checks=("class_shift",))
    report = check_batch(class_profile, labels_only({0: 400, 1: 88}), only)
    [note] = report.by_check("class_shift")
    assert not note.detail["significant"]
    assert note.strength == "weak"
    assert report.decision == Action.ALLOW
    needed = note.detail["rows_to_see_drop"]
    assert needed == rows_to_see_drop(0.2, 40_000, 2)
    assert f"{needed:,} rows" in note.explanation
    assert "too small" in note.explanation


def test_rows_needed_for_a_drop_follow_the_class_share_and_baseline():
    assert rows_to_see_drop(0.1, 10**9, 10) > rows_to_see_drop(0.3, 10**9, 10)
    assert rows_to_see_drop(0.2, 20_000, 2) > rows_to_see_drop(0.2, 10**9, 2)
    # A baseline of a few hundred rows cannot show a 10% drop at any batch size.
    assert rows_to_see_drop(0.27, 89, 3) is None


def test_one_shared_value_on_a_few_relabelled_rows_is_not_a_small_trigger(profile, split):
    # The same rows as in the four-row trigger above, with one of its two values: a
    # few odd rows of a class sharing one value look like this naturally.
    base, batch = split
    poisoned = batch.copy()
    victims = np.flatnonzero(batch["target"] == 1)[10:14]
    poisoned.loc[victims, "mean area"] = float(np.quantile(base["mean area"], 0.975, method="nearest"))
    poisoned.loc[victims, "target"] = 0
    assert not check_batch(profile, poisoned).by_check("backdoor_trigger")


def test_zero_and_negative_zero_are_one_value_so_a_common_zero_is_no_trigger():
    rng = np.random.default_rng(14)

    def frame(n: int, zero: float) -> pd.DataFrame:
        values = np.round(rng.normal(size=(n, 8)), 2)
        values[rng.random((n, 8)) < 0.1] = zero  # a common value, unrelated to the label
        out = pd.DataFrame(values, columns=[f"f{i}" for i in range(8)])
        out["label"] = rng.choice(["a", "b"], n)
        return out

    profile = Profile.learn(frame(1500, -0.0), "label", seed=1)  # the baseline spells it -0.0
    report = check_batch(profile, frame(800, 0.0))
    assert not [f for f in report.findings if f.check == "backdoor_trigger"]
    assert report.decision < Action.BLOCK


def _class_view_findings(classes, base_counts, batch_labels):
    from atlasgate.data.checks.distribution import class_shift

    view = type("View", (), {})()
    view.labels = np.asarray(batch_labels)
    view.profile = type("P", (), {"classes": classes, "class_counts": base_counts, "label": "y"})()
    view.settings = CheckSettings()
    return class_shift(view)


@pytest.mark.parametrize(("classes", "base", "batch"), [
    (["a", "b"], [800, 200], [0] * 8 + [1] * 2),  # the same shares
    (["a", "b"], [800, 200], [0]),  # one row, of the larger class
    (["only"], [1000], [0, 0, 0]),  # a one-class profile
])
def test_small_or_unchanged_batches_raise_no_class_balance_finding(classes, base, batch):
    assert _class_view_findings(classes, base, batch) == []


def test_one_row_is_never_a_significant_class_drop():
    findings = _class_view_findings(["a", "b"], [800, 200], [1])  # class a: 80% -> 0%
    assert all(f.strength == "weak" and not f.detail["significant"] for f in findings)
