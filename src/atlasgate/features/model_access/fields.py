"""Event fields the model-access monitor writes; policies and Sigma rules read them by these names."""

from __future__ import annotations

from atlasgate import event as ev

# Windowed, per caller (tenant + key) and model, over the monitor's window.
DISTINCT_INPUTS = ev.API_DISTINCT_INPUTS  # distinct inputs (exact repeats not counted)
REPEAT_RATIO = "api.repeat_ratio"  # share of inputs that exactly repeat a recent one
SIMILARITY = ev.API_INPUT_SIMILARITY  # [0, 1]: closeness of this input to the caller's recent ones
NORMALITY_P = "api.min_distance_normality_p"  # PRADA: Shapiro-Wilk p of minimum distances
OOD_RATE = "api.ood_rate"  # share of inputs outside the training distribution
TRAINING_HIT_RATE = "api.training_hit_rate"  # share of inputs that are training rows
COVERAGE = "api.input_coverage"  # share of the training data's regions the caller has reached
CLASS_COVERAGE = "api.class_coverage"  # share of the model's classes the caller has been answered
DECISION_REGIONS = "api.decision_regions"  # distinct (region, answered class) pairs reached
EXTRACTION_PROGRESS = "api.extraction_progress"  # estimated fidelity a copy would reach
QUERIES = "api.queries"  # instances observed in the window
INSTANCES_WINDOW = "api.instances_window"  # instances scored in the window (compute)
COMPUTE_WINDOW = "api.compute_window"  # instances x features in the window
CONCURRENT = "api.concurrent_requests"  # this caller's requests in flight

_D = "detection.model_access."
REGISTERED = _D + "registered"  # the model has a registered training profile
KNN_DISTANCE = _D + "knn_distance"  # this request: smallest mean distance to k nearest recent inputs
KNN_HITS = _D + "knn_hits"  # inputs in the window closer than the calibrated k-NN threshold
STATEFUL = _D + "stateful"  # k-NN hits reached the configured count (Chen et al.)
FINGERPRINT_HITS = _D + "fingerprint_hits"  # inputs whose fingerprint matched a recent one
FINGERPRINT = _D + "fingerprint"  # fingerprint matches reached the configured count (Blacklight)
NORMALITY_W = _D + "normality_w"  # Shapiro-Wilk W of the minimum distances
PRADA = _D + "prada"  # W fell below the calibrated threshold
OOD_COUNT = _D + "ood_count"  # out-of-distribution inputs in the window
OOD = _D + "ood"  # OOD rate and count reached their thresholds
MEMBERSHIP_HITS = _D + "membership_hits"  # training rows queried in the window
MEMBERSHIP = _D + "membership"  # training-row hit rate and count reached their thresholds
BURST = _D + "burst"  # most near-duplicates seen around one queried training row
BURST_FLAG = _D + "membership_burst"  # that burst reached the configured size
FULL_VECTOR_RECORDS = _D + "full_vector_records"  # training rows answered with full score vectors
OVERSIZED = _D + "oversized"  # one request carried more instances than allowed
SHAPE_PROBES = _D + "shape_probes"  # distinct input widths tried in the window
SHAPE_MISMATCH = _D + "shape_mismatch"  # input width differs from the registered model's
ALARMS = _D + "alarms"  # alarming inputs in the window, counted in the shared state store
