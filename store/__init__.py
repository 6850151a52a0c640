"""The results folder as storage: atomic files, per-run parts, the folder's tables.

Knows files and folders, not scenarios: :mod:`store.files` (atomic writes),
:mod:`store.parts` (one file per finished run, for ``--resume``) and
:mod:`store.results` (the folder's layout, checks, provenance and tables).
It imports no other package of the project, not even :mod:`sim`.
"""
