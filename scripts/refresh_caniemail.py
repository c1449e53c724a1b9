"""Download the caniemail dataset again and vendor it into src/mailwright/data/.

    python scripts/refresh_caniemail.py            # the pinned version (below)
    python scripts/refresh_caniemail.py 2.1.0      # another version of the npm package
    python scripts/refresh_caniemail.py latest

Runs ``npm pack caniemail@VERSION`` in a temporary folder (npm must be on PATH), takes
``package/data/caniemail.json`` and ``package/LICENSE`` out of the tarball, writes them as
``caniemail.json`` and ``caniemail.LICENSE`` and rewrites the source note ``README.md`` beside
them (version, date of the data, checksums). Then run ``python -m pytest tests/test_check.py``:
a new dataset can move findings.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PINNED = "2.0.2"
DATA = Path(__file__).resolve().parents[1] / "src" / "mailwright" / "data"

NOTE = """# Vendored data

## caniemail.json

HTML and CSS support per email client, from [caniemail.com](https://www.caniemail.com), as published in
the npm package `caniemail` (https://www.npmjs.com/package/caniemail, repository shellscape/caniemail):
the file `data/caniemail.json` of `caniemail@{version}`, copied unchanged.

| | |
|---|---|
| package | `caniemail@{version}` (`npm pack caniemail@{version}`, tarball sha256 `{tgz_sha}`) |
| file | `package/data/caniemail.json`, sha256 `{json_sha}` |
| dataset | api_version {api}, last_update_date {updated}, {features} features |
| licence | MIT, the package's `LICENSE`: [caniemail.LICENSE](caniemail.LICENSE) |

Used by `mailwright check` (rule `client-support`, docs/check.md). To update:
`python scripts/refresh_caniemail.py [VERSION]`, then run `python -m pytest tests/test_check.py`.
"""


def refresh(version: str = PINNED) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["npm", "pack", f"caniemail@{version}", "--silent"], cwd=tmp,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"npm pack caniemail@{version} failed:\n{done.stderr.strip()}")
        tgz = Path(tmp) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            data = tar.extractfile("package/data/caniemail.json").read()
            licence = tar.extractfile("package/LICENSE").read()
            manifest = json.loads(tar.extractfile("package/package.json").read())
        tgz_sha = hashlib.sha256(tgz.read_bytes()).hexdigest()
    dataset = json.loads(data)  # fails here, before anything is written, if the file is not JSON
    if not isinstance(dataset.get("data"), list) or "nicenames" not in dataset:
        raise SystemExit("caniemail.json has an unexpected shape (no 'data' list or 'nicenames'); not written")
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "caniemail.json").write_bytes(data)
    (DATA / "caniemail.LICENSE").write_bytes(licence)
    info = {
        "version": manifest["version"], "tgz_sha": tgz_sha, "json_sha": hashlib.sha256(data).hexdigest(),
        "api": dataset.get("api_version"), "updated": dataset.get("last_update_date"),
        "features": len(dataset["data"]),
    }
    (DATA / "README.md").write_text(NOTE.format(**info), encoding="utf-8")
    return info


if __name__ == "__main__":
    info = refresh(sys.argv[1] if len(sys.argv) > 1 else PINNED)
    print(f"caniemail@{info['version']}: {info['features']} features, data of {info['updated']} "
          f"-> {DATA / 'caniemail.json'}")
