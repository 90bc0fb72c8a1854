"""deploy/prometheus/lockbox-rules.yml is valid, and its alerts fire on synthetic series."""

import subprocess

from tests.processes import ROOT
from tests.prometheus import PROMTOOL, require

RULES = ROOT / "deploy" / "prometheus"


def test_promtool_accepts_the_rules():
    require(PROMTOOL)
    checked = subprocess.run([PROMTOOL, "check", "rules", "lockbox-rules.yml"], cwd=RULES,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 12 rules found" in checked.stdout


def test_the_alerts_fire_on_synthetic_series():
    require(PROMTOOL)
    tested = subprocess.run([PROMTOOL, "test", "rules", "lockbox-rules.test.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
