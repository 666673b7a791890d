"""`imochain node` flags: bad values are refused with a clear message, before anything starts."""

import subprocess
import sys

import pytest


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "imochain.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--port", "http"], "not a port number"),
    (["--port", "70000"], "between 1 and 65535"),
    (["--block-time", "0"], "greater than 0"),
    (["--block-time", "1", "--no-mining"], "not allowed with argument"),
    (["--accounts", "-3"], "between 0 and 1000"),
    (["--balance", "lots"], "not an amount of ether"),
    (["--chain-id", "0"], "between 1 and 2^53"),
    (["--device", "tpu"], "invalid choice"),
    (["--oracle-faults", "2"], "between 0 and 1"),
])
def test_bad_flags_are_refused(args, message):
    proc = run("node", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_mnemonic_is_refused_cleanly():
    proc = run("node", "--mnemonic", "not a real mnemonic", "--port", "1")
    assert proc.returncode == 2
    assert "invalid mnemonic" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_command_and_help():
    assert run("frobnicate").returncode == 2
    out = run("node", "--help")
    assert out.returncode == 0 and "--block-time" in out.stdout and "--db" in out.stdout


def test_hardfork_flag_names_are_checked():
    for args, message in ((["--hardfork", "pectra"], "unknown hardfork 'pectra'"),
                          (["--hardfork", "london"], "cancun or later")):
        proc = run("node", *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
