"""Leak-free splits: k folds by accession group, stratified by subtype, seeded, written to a manifest.

Image-level random splits of BreakHis report 97-99% accuracy; patient-level splits 85-93%. Splitting by patient
folder is not enough either: sibling sections of one accession (``21998AB``/``21998CD``) and the ``13412`` slide
that BreakHis holds twice would land on both sides. So every split here is by *accession group*
(:attr:`engine.histology.dataset.Sample.group`): scikit-learn's ``StratifiedKFold`` (shuffled, seeded) deals the
groups into k test folds, stratified by each group's main subtype (its class for datasets without subtypes);
validation groups are carved, stratified the same way, from each fold's training groups. The result is written
to a CSV manifest (``path,patient,split``) so a run can be repeated exactly (:func:`read_manifest`).
"""

from __future__ import annotations

import csv
import math
import random
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError
from engine.histology.dataset import Dataset, Sample, csv_rows

PARTS = ("train", "val", "test")
UNUSED = "unused"  # training patients left out by a label fraction
MANIFEST_COLUMNS = ("path", "patient", "split")


@dataclass(frozen=True)
class Split:
    """Which patients train, validate and test one fold (``unused``: training patients a label fraction left out)."""

    fold: int
    parts: Mapping[str, str]  # patient -> "train" | "val" | "test" | "unused"

    def patients(self, part: str) -> list[str]:
        """The patients of ``part``, sorted."""
        return sorted(p for p, where in self.parts.items() if where == part)

    def samples(self, dataset: Dataset, part: str) -> list[Sample]:
        """The samples of ``part``."""
        return [s for s in dataset.samples if self.parts.get(s.patient) == part]


def _stratum(samples: Iterable[Sample]) -> dict[str, str]:
    """Each group's stratification label: its most frequent subtype (its class when there are no subtypes)."""
    counts: dict[str, Counter[str]] = {}
    for sample in samples:
        counts.setdefault(sample.group, Counter())[sample.subtype or sample.label] += 1
    return {group: count.most_common(1)[0][0] for group, count in sorted(counts.items())}


def _patients_of(dataset: Dataset) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for sample in dataset.samples:
        groups.setdefault(sample.group, set()).add(sample.patient)
    return groups


def _carve(groups: list[str], strata: Mapping[str, str], fraction: float, rng: random.Random) -> set[str]:
    """About ``fraction`` of ``groups`` per stratum (rounded; strata of one group give none), at least one overall."""
    by_stratum: dict[str, list[str]] = {}
    for group in groups:
        by_stratum.setdefault(strata[group], []).append(group)
    chosen: set[str] = set()
    for _, members in sorted(by_stratum.items()):
        rng.shuffle(members)
        count = round(fraction * len(members)) if len(members) > 1 else 0
        chosen.update(members[:count])
    if not chosen and len(groups) > 1 and fraction > 0:
        largest = max(sorted(by_stratum.items()), key=lambda item: len(item[1]))[1]
        chosen.add(largest[0])
    return chosen


def make_folds(dataset: Dataset, k: int = 5, seed: int = 0, val_fraction: float = 0.25) -> list[Split]:
    """``k`` leak-free folds: each group is tested in exactly one fold; validation is ``val_fraction`` of the
    remaining groups (0.25 gives the reference's 60/20/20 train/val/test).

    Raises:
        InputError: fewer accession groups than ``k`` (or than 3 for one train/val/test split).
    """
    from sklearn.model_selection import StratifiedKFold

    strata = _stratum(dataset.samples)
    groups = list(strata)
    if k < 2:
        raise InputError(f"A split needs at least 2 folds, not {k}.")
    if len(groups) < max(k, 3):
        raise InputError(f"{len(groups)} accession groups cannot be split into {k} folds with validation; "
                         "add patients or lower the number of folds.")
    labels = [strata[g] for g in groups]
    with warnings.catch_warnings():  # fewer groups than folds in a stratum (BreakHis' phyllodes tumour): expected
        warnings.simplefilter("ignore", UserWarning)
        # sklearn refuses to stratify when every stratum has fewer groups than folds: deal them unstratified then.
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = list(splitter.split(groups, labels if max(Counter(labels).values()) >= k else [0] * len(groups)))
    patients = _patients_of(dataset)
    rng = random.Random(seed)
    splits = []
    for fold, (train_index, test_index) in enumerate(folds):
        train_groups = [groups[i] for i in train_index]
        val_groups = _carve(train_groups, strata, val_fraction, rng)
        parts: dict[str, str] = {}
        for group in train_groups:
            for patient in patients[group]:
                parts[patient] = "val" if group in val_groups else "train"
        for index in test_index:
            for patient in patients[groups[index]]:
                parts[patient] = "test"
        splits.append(Split(fold, parts))
    return splits


def with_label_fraction(split: Split, dataset: Dataset, fraction: float, seed: int = 0) -> Split:
    """Keep ``fraction`` (0..1] of the training groups, stratified (at least one per stratum); the rest become
    ``unused``. Validation and test are unchanged, so results at different fractions are comparable.
    """
    if not 0 < fraction <= 1:
        raise InputError(f"The label fraction must be in (0, 1], not {fraction}.")
    if fraction == 1:
        return split
    training = split.samples(dataset, "train")
    strata = _stratum(training)
    by_stratum: dict[str, list[str]] = {}
    for group, stratum in strata.items():
        by_stratum.setdefault(stratum, []).append(group)
    rng = random.Random(seed)
    kept: set[str] = set()
    for _, members in sorted(by_stratum.items()):
        rng.shuffle(members)
        kept.update(members[:max(1, math.ceil(fraction * len(members)))])
    group_of = {s.patient: s.group for s in training}
    parts = {patient: (UNUSED if where == "train" and group_of[patient] not in kept else where)
             for patient, where in split.parts.items()}
    return Split(split.fold, parts)


def leaks(split: Split, dataset: Dataset) -> list[str]:
    """Accession groups found in more than one part (empty for a leak-free split)."""
    seen: dict[str, set[str]] = {}
    for sample in dataset.samples:
        where = split.parts.get(sample.patient)
        if where is not None:
            seen.setdefault(sample.group, set()).add("train" if where == UNUSED else where)
    return sorted(group for group, parts in seen.items() if len(parts) > 1)


def write_manifest(path: str | Path, split: Split, dataset: Dataset) -> Path:
    """Write ``path,patient,split`` for every sample of the split (paths relative to the dataset's root)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for sample in dataset.samples:
            if sample.patient in split.parts:
                writer.writerow([sample.relative, sample.patient, split.parts[sample.patient]])
    return target


def read_manifest(path: str | Path, dataset: Dataset, fold: int = 0) -> Split:
    """The split a manifest records, checked against ``dataset``.

    Raises:
        InputError: not a manifest, a patient assigned to two parts, a group in two parts (a leak), or none of
            the manifest's images in the dataset.
    """
    source = Path(path)
    rows = csv_rows(source, MANIFEST_COLUMNS, "a split manifest")
    parts: dict[str, str] = {}
    for row in rows:
        if row["split"] not in (*PARTS, UNUSED):
            raise InputError(f"{source.name}: unknown split {row['split']!r} (use {', '.join(PARTS)}, {UNUSED}).")
        if parts.setdefault(row["patient"], row["split"]) != row["split"]:
            raise InputError(f"{source.name}: patient {row['patient']} is in both {parts[row['patient']]} and "
                             f"{row['split']}.")
    split = Split(fold, parts)
    if not split.samples(dataset, "train") and not split.samples(dataset, "test"):
        raise InputError(f"None of the patients in {source.name} is in this dataset.")
    leaked = leaks(split, dataset)
    if leaked:
        raise InputError(f"{source.name} is not leak-free: accession group(s) {', '.join(leaked[:5])} are in more "
                         "than one part.")
    return split
