"""crm-sim analysis: metrics, money, retention, tables, reports, plots, facts, sensitivity indices.

Reads results folders (and what :mod:`experiments` hands it); never runs a model.
"""
