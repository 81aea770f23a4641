"""Forecasts with statsforecast: daily demand by category, and a retailer's own series."""
