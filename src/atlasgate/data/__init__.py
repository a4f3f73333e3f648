"""Training-data integrity: profiles of trusted data, batch checks, provenance manifests.

Profile.learn(frame, label) -> Profile          atlasgate.data.profile
check_batch(profile, frame, settings)            atlasgate.data.checks
ingest_batch(profile, body, content_type, ...)   atlasgate.data.ingest
build_manifest(dir, ...) / verify_manifest(...)  atlasgate.data.manifest
"""
