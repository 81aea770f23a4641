"""Activation.

Response curves, the media mix model, the budget allocation, creatives, the plan and its delivery.
"""
