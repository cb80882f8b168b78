"""The embedded database and broker live in a folder only this account can read."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_new_var_folder_is_readable_by_this_account_only(tmp_path):
    var = tmp_path / "fresh" / "var"
    subprocess.run(  # noqa: S603 (our interpreter, our module)
        [sys.executable, "-c", "import recovery_desk.settings"],
        cwd=ROOT,
        env={**os.environ, "RECOVERY_DESK_VAR_DIR": str(var)},
        check=True,
    )
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
