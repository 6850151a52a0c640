"""Policy tests (a package, so its test_contract.py does not clash with tests/strategies/)."""
