"""Governance without Dagster.

Consent, keyed pseudonyms, erasure, key rotation, PII scans and match keys.
"""
