"""Ethereum's own Osaka state tests (execution-spec-tests, ../shared/osaka-state-tests), every case."""

from pathlib import Path

import pytest

from imochain.chain.forks.statetest import cases, run_case

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "osaka-state-tests"
FILES = sorted(FIXTURES.rglob("*.json")) if FIXTURES.is_dir() else []

# Every case passes; a case that starts failing is a regression, listed here only with a reason.
EXPECTED_FAILURES: dict[str, str] = {}


@pytest.mark.skipif(not FILES, reason=f"state-test fixtures not found at {FIXTURES}")
@pytest.mark.parametrize("fixture", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_file(fixture):
    failures = []
    count = 0
    for name, test, fork, index, post in cases(fixture):
        count += 1
        result = run_case(test, fork, index, post, name)
        if not result.passed and name not in EXPECTED_FAILURES:
            failures.append(f"{name} [{fork} #{index}]: {result.detail}")
    assert count > 0
    assert not failures, "\n".join(failures[:10])


@pytest.mark.skipif(not FILES, reason=f"state-test fixtures not found at {FIXTURES}")
def test_all_fixture_cases_are_counted():
    """The suite holds 1 230 cases; none may silently drop out of the run."""
    assert sum(1 for _ in cases(FIXTURES)) == 1230


@pytest.mark.skipif(not FILES, reason=f"state-test fixtures not found at {FIXTURES}")
@pytest.mark.parametrize("folder", ["eip7939_count_leading_zeros", "eip7951_p256verify_precompiles",
                                    "eip7883_modexp_gas_increase", "eip7825_transaction_gas_limit_cap"])
def test_osaka_cases_fail_under_prague_rules(folder):
    """The runner discriminates: Osaka's expectations do not hold under Prague's rules."""
    outcomes = [run_case(test, "prague", i, post, name).passed
                for name, test, fork, i, post in cases(FIXTURES / folder, "Osaka")]
    assert outcomes and not all(outcomes)


@pytest.mark.skipif(not FILES, reason=f"state-test fixtures not found at {FIXTURES}")
@pytest.mark.parametrize("fork", ["bpo1", "bpo2"])
def test_blob_parameter_forks_pass_osakas_cases(fork):
    """BPO1/BPO2 change only the blob schedule: Osaka's expectations hold under their rules."""
    folder = FIXTURES / "eip7594_peerdas"  # the blob cases, where a schedule could matter
    failures = [r.detail for r in (run_case(test, fork, i, post, name)
                                   for name, test, _, i, post in cases(folder, "Osaka")) if not r.passed]
    assert not failures, failures[:5]
