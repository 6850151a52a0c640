"""crm-sim analysis: scenarios, running, sweeps, metrics, reports and plots (reads results)."""
