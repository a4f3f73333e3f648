"""Training-data integrity: profiles of trusted data, batch checks, provenance manifests."""
