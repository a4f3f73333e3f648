"""The ATLAS techniques each data check is evidence of."""

from __future__ import annotations

POISON = "AML.T0020"  # Poison Training Data
ERODE = "AML.T0059"  # Erode Dataset Integrity
SUPPLY_DATA = "AML.T0010.002"  # AI Supply Chain Compromise: Data
PUBLISH_POISONED = "AML.T0019"  # Publish Poisoned Datasets
POISON_MODEL = "AML.T0018.000"  # Manipulate AI Model: Poison AI Model
BACKDOOR_TRIGGER = "AML.T0043.004"  # Craft Adversarial Data: Insert Backdoor Trigger

BY_CHECK: dict[str, tuple[str, ...]] = {
    "schema": (SUPPLY_DATA, ERODE),
    "class_shift": (POISON, ERODE),
    "label_conditional_drift": (POISON,),
    "feature_drift": (POISON, ERODE),
    "out_of_range": (ERODE, POISON),
    "unseen_category": (ERODE, POISON),
    "broken_constraint": (ERODE, POISON),
    "novelty": (POISON, ERODE),
    "duplicates": (POISON, ERODE),
    "label_flips": (POISON,),
    "backdoor_trigger": (POISON, POISON_MODEL, BACKDOOR_TRIGGER),
    "spectral_signature": (POISON, POISON_MODEL),
    "manifest": (SUPPLY_DATA, PUBLISH_POISONED),
}
