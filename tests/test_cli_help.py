"""Every command a user reads about first has help text of its own (issue #14)."""

from __future__ import annotations

import pytest

from lorawan_monitor import cli


@pytest.mark.parametrize("command", ["run", "settings", "decoders", "ingest"])
def test_command_help_says_what_it_does(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]  # after the usage line
    assert not description.startswith("options:") and len(description) > 40, out
