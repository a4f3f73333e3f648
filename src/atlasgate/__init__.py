"""AtlasGate: a runtime control gateway for AI systems, built on MITRE ATLAS."""

__version__ = "0.1.0"
