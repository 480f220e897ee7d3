"""Metrics used during training: domain-feature FID (+ class coverage) and 2D mixture mode coverage."""
