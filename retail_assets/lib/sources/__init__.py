"""Where data comes from.

The simulator, landing files (GA4, events, sales history), the retailer's own files and
the Census workbook.
"""
