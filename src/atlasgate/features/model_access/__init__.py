"""Model-access defence: per-caller query-stream features for predict APIs.

Extraction, membership inference, adversarial probing and cost abuse all show in
the stream of one caller's queries to one model long before they succeed. The
monitor (``monitor.ModelAccessMonitor``) turns each predict request into Event
fields; the default policy pack ``policy/defaults/model_access.yaml`` acts on them.
"""
