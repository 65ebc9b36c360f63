"""Where the real DIRAC-made test certificates are (``../shared/testdata`` beside the checkout)."""

from __future__ import annotations

from pathlib import Path

DIRAC_TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "dirac-certs"
if not DIRAC_TESTDATA.is_dir():  # the checkout may sit elsewhere than beside shared/
    DIRAC_TESTDATA = Path("/work/shared/testdata/dirac-certs")
