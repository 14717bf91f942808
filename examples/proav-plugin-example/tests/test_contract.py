"""proav's contract checks on every component this plugin registers (one test per component)."""

from proav_core.testing import contract_tests

test_contract = contract_tests("example", params={"example_midpoint": {"steps": 4}})
