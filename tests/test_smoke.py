import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_compile_example_writes_all_dialects(tmp_path):
    out = tmp_path / "build"
    r = subprocess.run([sys.executable, "-m", "mailwright", "compile", str(ROOT / "examples/shop"), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    esps = {o["esp"] for o in manifest["outputs"]}
    assert esps == {"klaviyo", "hubspot", "activecampaign"}
    for o in manifest["outputs"]:
        if o["kind"] == "template":
            assert (out / o["html"]).read_text().strip()
            assert (out / o["text"]).read_text().strip()
        else:
            assert json.loads((out / o["definition"]).read_text())
    assert {o["esp"] for o in manifest["outputs"] if o["kind"] == "flow"} >= {"klaviyo", "hubspot"}
