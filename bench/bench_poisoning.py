"""Poisoning benchmark: inject known poison into scikit-learn's data sets and measure the checks.

Run: ``python bench/bench_poisoning.py`` (about 3 minutes on 2 shared cores, longer
when they are busy; ``--quick`` for fewer repeats). For each data set and repeat,
half the rows become the trusted baseline (a profile is learned from it) and the
other half the incoming batch, into which poison is injected. Label flips and
backdoors are injected several times per split on the smaller data sets (about 900
batch rows per split and injection in all), so that a 1% injection into an 89-row
batch is measured on more than one row. Row-level precision and recall are
micro-averaged; decision rates say how often the batch was held (REVIEW) or blocked.
Clean resamples (random subsets of the held-out half) measure false alarms.
cleanlab, the reference for label issues, runs on the very same batches. The
minority-class drop is also measured on larger class-count samples, to find the
batch size at which the class-balance test sees it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.preprocessing import StandardScaler

from atlasgate.data.checks import CheckReport, check_batch
from atlasgate.data.checks.distribution import rows_to_see_drop
from atlasgate.data.manifest import build_manifest, verify_manifest
from atlasgate.data.profile import Profile
from atlasgate.data.settings import CheckSettings
from atlasgate.policy.decision import Action

LABEL = "target"
DATASETS = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine}
# Batch rows per split and injection: smaller batches get more injections.
ROWS_PER_INJECTION = 900


@dataclass
class Tally:
    flagged: int = 0
    hits: int = 0
    injected: int = 0
    runs: int = 0
    review: int = 0
    block: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def add(self, flagged: set[int], truth: set[int], decision: Action | None = None) -> None:
        self.flagged += len(flagged)
        self.hits += len(flagged & truth)
        self.injected += len(truth)
        self.runs += 1
        if decision is not None:
            self.review += decision >= Action.REVIEW
            self.block += decision == Action.BLOCK

    @property
    def precision(self) -> float:
        return self.hits / self.flagged if self.flagged else float("nan")

    @property
    def recall(self) -> float:
        return self.hits / self.injected if self.injected else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def split(frame: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = rng.permutation(len(frame))
    half = len(frame) // 2
    return (
        frame.iloc[order[:half]].reset_index(drop=True),
        frame.iloc[order[half:]].reset_index(drop=True),
    )


def flip_labels(
    batch: pd.DataFrame, rate: float, rng: np.random.Generator, classes: list
) -> tuple[pd.DataFrame, set[int]]:
    out = batch.copy()
    rows = rng.choice(len(out), max(1, round(rate * len(out))), replace=False)
    for r in rows:
        current = out.at[r, LABEL]
        out.at[r, LABEL] = rng.choice([c for c in classes if c != current])
    return out, set(int(r) for r in rows)


def backdoor(
    batch: pd.DataFrame, base: pd.DataFrame, rate: float, rng: np.random.Generator, name: str
) -> tuple[pd.DataFrame, set[int]]:
    """BadNets-style dirty-label backdoor: a fixed trigger on a few features, label set to a target."""
    out = batch.copy()
    classes = sorted(base[LABEL].unique())
    target = rng.choice(classes)
    candidates = np.flatnonzero(out[LABEL].to_numpy() != target)
    rows = rng.choice(candidates, max(1, round(rate * len(out))), replace=False)
    if name == "digits":
        corner = rng.choice(["0_0", "0_6", "6_0", "6_6"])
        r0, c0 = int(corner[0]), int(corner[2])
        trigger = {f"pixel_{r0 + i}_{c0 + j}": 16.0 for i in (0, 1) for j in (0, 1)}
    else:
        features = rng.choice([c for c in base.columns if c != LABEL], 2, replace=False)
        # In-range trigger values: the baseline's 97.5th percentile, so range checks cannot see it.
        trigger = {f: float(np.quantile(base[f], 0.975, method="nearest")) for f in features}
    for feature, value in trigger.items():
        out.loc[rows, feature] = value
    out.loc[rows, LABEL] = target
    return out, set(int(r) for r in rows)


def global_shift(batch: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    out = batch.copy()
    for f in base.columns:
        if f != LABEL:
            out[f] = out[f] + 0.5 * base[f].std()
    return out


def class_drop(
    batch: pd.DataFrame, base: pd.DataFrame, share: float, rng: np.random.Generator
) -> pd.DataFrame:
    minority = base[LABEL].value_counts().idxmin()
    rows = np.flatnonzero(batch[LABEL].to_numpy() == minority)
    drop = rng.choice(rows, max(1, round(share * len(rows))), replace=False)
    return batch.drop(index=drop).reset_index(drop=True)


def ood_rows(
    batch: pd.DataFrame, base: pd.DataFrame, rate: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, set[int]]:
    """Rows drawn uniformly inside each feature's baseline range: in range, off the data manifold."""
    k = max(1, round(rate * len(batch)))
    features = [c for c in base.columns if c != LABEL]
    fake = pd.DataFrame({f: rng.uniform(base[f].min(), base[f].max(), k).round(4) for f in features})
    fake[LABEL] = rng.choice(base[LABEL].unique(), k)
    out = pd.concat([batch, fake[batch.columns]], ignore_index=True)
    return out, set(range(len(batch), len(out)))


def near_duplicates(
    batch: pd.DataFrame, base: pd.DataFrame, rate: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, set[int]]:
    k = max(1, round(rate * len(batch)))
    sources = rng.choice(len(batch), 3, replace=False)
    copies = batch.iloc[rng.choice(sources, k)].copy().reset_index(drop=True)
    features = [c for c in base.columns if c != LABEL]
    exact = rng.random(k) < 0.5
    for f in features:
        noise = rng.normal(0, 0.001 * (base[f].std() or 1.0), k)
        copies[f] = np.where(exact, copies[f], copies[f] + noise)
    out = pd.concat([batch, copies], ignore_index=True)
    return out, set(range(len(batch), len(out)))


def near_replays(
    batch: pd.DataFrame, base: pd.DataFrame, rate: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, set[int]]:
    """Training rows sent again with a little noise, to up-weight them unnoticed."""
    k = max(1, round(rate * len(batch)))
    copies = base.iloc[rng.choice(len(base), k, replace=False)].copy().reset_index(drop=True)
    for f in base.columns:
        if f != LABEL:
            copies[f] = copies[f] + rng.normal(0, 0.01 * (base[f].std() or 1.0), k)
    out = pd.concat([batch, copies], ignore_index=True)
    return out, set(range(len(batch), len(out)))


def cleanlab_flags(base: pd.DataFrame, batch: pd.DataFrame, trusted_model: bool) -> set[int]:
    """cleanlab.find_label_issues with logistic-regression probabilities.

    ``trusted_model=False``: cross-validated over baseline + batch (cleanlab's usual use).
    ``trusted_model=True``: the model is fitted on the trusted baseline only, the same
    information the AtlasGate check has.
    """
    from cleanlab.filter import find_label_issues

    features = [c for c in base.columns if c != LABEL]
    scaler = StandardScaler().fit(base[features])
    xb, xt = scaler.transform(base[features]), scaler.transform(batch[features])
    classes = sorted(base[LABEL].unique())
    index = {c: i for i, c in enumerate(classes)}
    yb = base[LABEL].map(index).to_numpy()
    yt = batch[LABEL].map(index).to_numpy()
    model = LogisticRegression(max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if trusted_model:
            probs = model.fit(xb, yb).predict_proba(xt)
            issues = find_label_issues(yt, probs)
        else:
            x = np.vstack([xb, xt])
            y = np.concatenate([yb, yt])
            probs = cross_val_predict(model, x, y, cv=5, method="predict_proba")
            issues = find_label_issues(y, probs)[len(base) :]
    return set(np.flatnonzero(issues).tolist())


def manifest_tamper(frame: pd.DataFrame, rng: np.random.Generator) -> dict[str, bool]:
    """Build a signed manifest, tamper four ways, and record whether each was named."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        key = Path(tmp) / "key.pem"
        for i, rows in enumerate(np.array_split(np.arange(len(frame)), 4)):
            frame.iloc[rows].to_csv(root / f"part-{i}.csv", index=False)
        manifest = build_manifest(root, source="bench", profile_path=None, signing_key_path=key)
        victim = root / f"part-{rng.integers(4)}.csv"
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        results["one bit flipped in a file"] = (
            victim.name in verify_manifest(manifest, directory=root).changed
        )
        (root / "extra.csv").write_text("a,b\n1,2\n")
        results["file added"] = "extra.csv" in verify_manifest(manifest, directory=root).added
        (root / "part-0.csv").unlink()
        results["file removed"] = "part-0.csv" in verify_manifest(manifest, directory=root).removed
        forged = dict(manifest)
        forged["files"] = [dict(f) for f in manifest["files"]]
        forged["files"][1]["sha256"] = "0" * 64
        results["hash edited in the manifest"] = not verify_manifest(forged, directory=root).signature_ok
    return results


def timed_check(
    profile: Profile, settings: CheckSettings, times: list[float], batch: pd.DataFrame
) -> CheckReport:
    started = time.perf_counter()
    report = check_batch(profile, batch, settings)
    times.append(time.perf_counter() - started)
    return report


def significant_shift(report: CheckReport) -> bool:
    """A class_shift hint or alarm (corrected p < 0.05), not a note on sampling noise."""
    return any(f.detail.get("significant", True) for f in report.by_check("class_shift"))


def run(repeats: int, resamples: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    learn_seconds: dict[str, float] = defaultdict(float)
    check_seconds: dict[str, list[float]] = defaultdict(list)
    tamper: dict[str, list[bool]] = defaultdict(list)
    alarms: dict[str, int] = defaultdict(int)
    hints: dict[str, int] = defaultdict(int)
    backdoor_clean: dict[str, int] = defaultdict(int)
    profiles: dict[str, Profile] = {}
    settings = CheckSettings()
    for name, loader in DATASETS.items():
        frame = loader(as_frame=True).frame
        classes = sorted(frame[LABEL].unique())
        for split_no in range(repeats):
            base, pool = split(frame, rng)
            draws = max(1, round(ROWS_PER_INJECTION / len(pool)))
            t0 = time.perf_counter()
            profile = Profile.learn(base, LABEL, seed=int(rng.integers(1 << 30)))
            profiles[name] = profile
            learn_seconds[name] += time.perf_counter() - t0
            print(f"  {name}: split {split_no + 1}/{repeats}", file=sys.stderr, flush=True)

            check = partial(timed_check, profile, settings, check_seconds[name])

            for _ in range(resamples):
                subset = pool.iloc[rng.choice(len(pool), int(0.6 * len(pool)), replace=False)]
                report = check(subset.reset_index(drop=True))
                tallies[(name, "clean resample")].add(report.flagged_rows(), set(), report.decision)
                hints[name] += significant_shift(report)
                backdoor_clean[name] += bool(report.by_check("backdoor_trigger"))
                for finding in report.findings:
                    if finding.strength != "weak":
                        alarms[f"{name}: {finding.check} ({finding.strength})"] += 1
            for _ in range(draws):
                for rate in (0.01, 0.05, 0.10, 0.20):
                    batch, truth = flip_labels(pool, rate, rng, classes)
                    report = check(batch)
                    tally = tallies[(name, f"label flips {rate:.0%}")]
                    tally.add(report.flagged_rows("label_flips"), truth, report.decision)
                    tally.extra["rows"] = len(truth)
                    for trusted in (False, True):
                        t = time.perf_counter()
                        flags = cleanlab_flags(base, batch, trusted)
                        key = "cleanlab, LR fitted on baseline" if trusted else "cleanlab, LR cross-validated"
                        tallies[(name, f"{key} {rate:.0%}")].add(flags, truth)
                        tallies[(name, f"{key} {rate:.0%}")].seconds += time.perf_counter() - t
                for rate in (0.01, 0.05, 0.10):
                    batch, truth = backdoor(pool, base, rate, rng, name)
                    report = check(batch)
                    tally = tallies[(name, f"backdoor {rate:.0%}")]
                    tally.add(report.flagged_rows("backdoor_trigger"), truth, report.decision)
                    tally.extra["rows"] = len(truth)
                    tallies[(name, f"backdoor {rate:.0%} (backdoor or label-flip rows)")].add(
                        report.flagged_rows("backdoor_trigger", "label_flips"), truth
                    )
                    tallies[(name, f"backdoor {rate:.0%} (spectral only)")].add(
                        report.flagged_rows("spectral_signature"), truth
                    )
            report = check(global_shift(pool, base))
            tallies[(name, "global shift +0.5 SD")].add(set(), set(), report.decision)
            for share in (0.10, 0.30):
                report = check(class_drop(pool, base, share, rng))
                tally = tallies[(name, f"minority class drop {share:.0%}")]
                tally.add(set(), set(), report.decision)
                tally.extra["class_shift"] = tally.extra.get("class_shift", 0) + significant_shift(report)
            batch, truth = ood_rows(pool, base, 0.05, rng)
            report = check(batch)
            tallies[(name, "OOD rows 5% (novelty)")].add(
                report.flagged_rows("novelty"), truth, report.decision
            )
            batch, truth = near_replays(pool, base, 0.05, rng)
            report = check(batch)
            tallies[(name, "near replays of training rows 5%")].add(
                report.flagged_rows("duplicates"), truth, report.decision
            )
            batch, truth = near_duplicates(pool, base, 0.05, rng)
            report = check(batch)
            tallies[(name, "duplicate injection 5%")].add(
                report.flagged_rows("duplicates"), truth, report.decision
            )
            for label, ok in manifest_tamper(base, rng).items():
                tamper[label].append(ok)
    print_tables(tallies, learn_seconds, check_seconds, tamper, repeats, resamples)
    print("\nclass_shift hints or alarms (corrected p < 0.05) on clean resamples")
    for name in DATASETS:
        print(f"  {name:<14}{hints[name] / max(repeats * resamples, 1):.1%}")
    print("\nbackdoor_trigger findings of any strength on clean resamples (count)")
    for name in DATASETS:
        print(f"  {name:<14}{backdoor_clean[name]} of {repeats * resamples}")
    print("\nFindings of moderate or strong strength on clean resamples (count)")
    for key, count in sorted(alarms.items()):
        print(f"  {key:<50}{count}")
    if not alarms:
        print("  none")
    class_drop_power(rng, profiles, settings)


def print_tables(tallies, learn_seconds, check_seconds, tamper, repeats, resamples) -> None:
    print(
        f"\nRow-level precision/recall, decision rates ({repeats} splits per data set; "
        f"{resamples} clean resamples per split)\n"
    )
    header = f"{'data set':<14}{'injection':<52}{'prec':>6}{'recall':>7}{'F1':>6}{'REVIEW+':>9}{'BLOCK':>7}"
    print(header)
    print("-" * len(header))
    for (name, what), t in tallies.items():
        if what.startswith("cleanlab"):
            continue
        p = "" if np.isnan(t.precision) else f"{t.precision:.2f}"
        r = "" if np.isnan(t.recall) else f"{t.recall:.2f}"
        f = "" if not t.injected else f"{t.f1:.2f}"
        held = f"{t.review / t.runs:.0%}" if t.runs and "spectral" not in what else ""
        blocked = f"{t.block / t.runs:.1%}" if t.runs and "spectral" not in what else ""
        if what == "clean resample":
            p = r = f = ""
        if "rows" in t.extra:
            what = f"{what} ({t.runs}× {int(t.extra['rows'])} rows)"
        print(f"{name:<14}{what:<52}{p:>6}{r:>7}{f:>6}{held:>9}{blocked:>7}")
    print("\nMinority-class drop: class_shift hint in the report (corrected p < 0.05) / batch held")
    for (name, what), t in tallies.items():
        if what.startswith("minority"):
            found = t.extra.get("class_shift", 0) / max(t.runs, 1)
            print(f"  {name:<14}{what:<28} reported {found:.0%}, REVIEW+ {t.review / t.runs:.0%}")
    print("\nLabel flips: AtlasGate vs cleanlab on the same batches (precision / recall / F1)\n")
    header = (
        f"{'data set':<14}{'flips':>6}  {'AtlasGate':>18}  {'cleanlab LR-CV':>18}"
        f"  {'cleanlab LR-baseline':>20}"
    )
    print(header)
    print("-" * len(header))
    for name in DATASETS:
        for rate in ("1%", "5%", "10%", "20%"):
            ours = tallies[(name, f"label flips {rate}")]
            cv = tallies[(name, f"cleanlab, LR cross-validated {rate}")]
            tb = tallies[(name, f"cleanlab, LR fitted on baseline {rate}")]
            cells = [f"{t.precision:.2f}/{t.recall:.2f}/{t.f1:.2f}" for t in (ours, cv, tb)]
            print(f"{name:<14}{rate:>6}  {cells[0]:>18}  {cells[1]:>18}  {cells[2]:>20}")
    print("\nManifest tampering (named correctly / tries)")
    for label, oks in tamper.items():
        print(f"  {label:<32}{sum(oks)}/{len(oks)}")
    print("\nTime (this machine, shared; noisy)")
    for name in DATASETS:
        seconds = check_seconds[name]
        per_learn = learn_seconds[name] / max(repeats, 1)
        cl = sum(t.seconds for (n, w), t in tallies.items() if n == name and "cross-validated" in w) / max(
            1, sum(1 for (n, w) in tallies if n == name and "cross-validated" in w) * repeats
        )
        print(
            f"  {name:<14} profile {per_learn:5.2f} s; check median {np.median(seconds):.3f} s "
            f"(cleanlab LR-CV per batch {cl:.3f} s, ratio check/cleanlab "
            f"{np.median(seconds) / max(cl, 1e-9):.2f})"
        )


def class_drop_power(rng: np.random.Generator, profiles: dict[str, Profile], settings: CheckSettings) -> None:
    """Detection rate of a 10% minority-class drop against the clean hint rate, by size.

    The class-balance check reads only the baseline's class counts and the batch's
    labels, so each data set's profile is reused with its class counts replaced by those
    of an N-row baseline drawn from the data set's class shares; batches of N labels are
    drawn from the same shares (clean) and then thinned by 10% in the smallest class.
    """
    sizes = (100, 300, 1_000, 3_000, 10_000, 20_000, 30_000, 50_000)
    draws = 100
    only = replace(settings, checks=("class_shift",))
    print(
        "\nMinority-class drop of 10% by size: share of batches with a class_shift hint "
        f"(corrected p < 0.05), baseline and batch of N rows each, {draws} draws per cell"
    )
    print(f"  {'data set':<14}{'N':>8}{'drop seen':>11}{'clean hint':>12}")
    for name, profile in profiles.items():
        shares = np.asarray(DATASETS[name]().target, dtype=int)
        shares = np.bincount(shares, minlength=len(profile.classes)) / shares.size
        minority = int(np.argmin(shares))
        smallest: int | None = None
        for n in sizes:
            seen = clean = 0
            for _ in range(draws):
                counts = rng.multinomial(n, shares)
                sized = replace(profile, rows=n, class_counts=counts.tolist())
                batch = rng.multinomial(n, shares)
                clean += significant_shift(check_batch(sized, _labels(profile, batch), only))
                batch[minority] -= round(0.1 * batch[minority])
                seen += significant_shift(check_batch(sized, _labels(profile, batch), only))
            print(f"  {name:<14}{n:>8,}{seen / draws:>11.0%}{clean / draws:>12.0%}")
            if smallest is None and seen / draws >= 0.9 and clean / draws <= 0.05:
                smallest = n
        estimate = rows_to_see_drop(float(shares[minority]), 10**12, len(shares))
        found = f"{smallest:,}" if smallest else f"more than {sizes[-1]:,}"
        print(
            f"  {name:<14}smallest N with the drop seen in ≥ 90% and a clean hint in ≤ 5%: {found} "
            f"(normal approximation: {2 * estimate:,} each)"
            if estimate
            else ""
        )


def _labels(profile: Profile, counts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({LABEL: np.repeat(np.asarray(profile.classes, dtype=object), counts)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="baseline/batch splits per data set")
    parser.add_argument("--resamples", type=int, default=100, help="clean resamples per split")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 splits, 10 resamples")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.resamples = 2, 10
    started = time.perf_counter()
    run(args.repeats, args.resamples, args.seed)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
