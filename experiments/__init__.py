"""Running experiments: scenario files, sweeps, the runner, calibration, sensitivity designs.

Everything that runs a model lives here: :mod:`experiments.runner` (one run),
:mod:`experiments.sweep` (plans and executes a scenario's runs, storing each
as a part), :mod:`experiments.folders` (what a scenario writes into its
results folder), :mod:`experiments.calibrate` (fits parameters to observed
survival, with :mod:`experiments.bounds` judging the values),
:mod:`experiments.export` (re-runs runs with the purchase log on), and the
scenario file itself (:mod:`experiments.scenario`, :mod:`experiments.schema`,
:mod:`experiments.sensitivity` for the sensitivity design). It summarizes
runs with :mod:`analysis` and stores them with :mod:`store`; analysis never
imports it.
"""
