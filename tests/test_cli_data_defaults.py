"""First contact: ``alseg data stats --pool 11f`` (the README's command) without a pool size
uses the 400 frames of ``alseg run``'s preset instead of failing on the whole dataset."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from alseg.cli import data as cli_data


def test_an_xf_pool_without_a_size_takes_the_run_preset():
    result = CliRunner().invoke(cli_data.app, ["stats", "--pool", "11f", "--no-classes", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["source"] == "synthdrive pool 11f" and stats["images"] == 400
