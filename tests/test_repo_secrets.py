"""No credential is committed: every tracked file is scanned for the usual key formats."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = re.compile(
    rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"
    rb"|\bgh[pousr]_[A-Za-z0-9]{36}\b"  # GitHub tokens
    rb"|\bhf_[A-Za-z0-9]{34}\b"  # Hugging Face tokens
    rb"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    rb"|WANDB_API_KEY\s*[=:]\s*['\"]?[0-9a-f]{40}"  # a W&B key written out
)


def test_no_tracked_file_holds_a_credential() -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.split(b"\0")
    found = [name.decode() for name in tracked if name
             and (ROOT / name.decode()).is_file()
             and CREDENTIALS.search((ROOT / name.decode()).read_bytes())]
    assert not found, f"credentials committed in {found}"
    assert CREDENTIALS.search(b"WANDB_API_KEY=" + b"0123456789abcdef" * 2 + b"01234567")
