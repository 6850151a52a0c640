"""The command line of crm-sim (``python run.py COMMAND``): :func:`cli.main.main`.

It parses arguments and hands each command to the packages below it:
:mod:`experiments` (run, validate, calibrate, export, facts' runs),
:mod:`analysis` (report, facts' table, sensitivity indices),
:mod:`benchmarks` (bench) and :mod:`dashboard` (app).
"""
