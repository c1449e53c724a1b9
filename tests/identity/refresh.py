"""Golden digests of what mailwright compiles: examples/shop (every ESP) and the compatibility suite.

    python tests/identity/refresh.py             # rewrite tests/identity/*.json from the current code
    python tests/identity/refresh.py --dump DIR  # write the outputs themselves into DIR (to diff two runs)

tests/test_identity.py compiles the same inputs and compares, so a speed change that alters a
single byte of any output (or any diagnostic) goes red. Refresh only on purpose, saying why.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHOP = ROOT / "examples" / "shop"
GOLDEN_SHOP = HERE / "shop.json"
GOLDEN_COMPAT = HERE / "compat.json"


def _sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def shop_digests() -> dict[str, str]:
    return {k: _sha(v) for k, v in shop_outputs().items()}


def compat_digests() -> dict[str, str]:
    return {k: _sha(v) for k, v in compat_outputs().items()}


def shop_outputs() -> dict[str, bytes]:
    """Every file of the example's build (all ESPs, flows, tracking plan, manifest), and its diagnostics."""
    from mailwright.compile import compile_project
    from mailwright.dialect import load_connectors
    from mailwright.output import write_outputs
    from mailwright.project import load_project

    proj = load_project(SHOP, list(load_connectors()))
    result = compile_project(proj)
    out = {"(diagnostics)": "\n".join(d.format() for d in result.diagnostics).replace(str(SHOP), "<shop>").encode()}
    with tempfile.TemporaryDirectory() as d:
        build = Path(d) / "build"
        write_outputs(result, build)
        for f in sorted(build.rglob("*")):
            if f.is_file():
                out[f.relative_to(build).as_posix()] = f.read_bytes()
    return out


def compat_outputs() -> dict[str, bytes]:
    """Each corpus file as tests/test_compat.py compiles it (three ESPs in one run, as written and
    as Prettier on Windows leaves it): html, text, subject and preheader per ESP, and the errors."""
    sys.path.insert(0, str(ROOT))
    from tests.test_compat import CORPUS, FILES, compile_all_esps, prettier_crlf, with_subject_and_footer

    out: dict[str, bytes] = {}
    for rel in FILES:
        src = with_subject_and_footer((CORPUS / rel).read_bytes().decode("utf-8"))
        for variant, text in (("", src), ("~crlf", prettier_crlf(src))):
            errors, outputs, _ = compile_all_esps(Path(rel).stem, text)
            if errors:
                where = re.escape(tempfile.gettempdir()) + r"/[^/]+/"  # the run's own project folder
                out[f"{rel}{variant}:errors"] = re.sub(where, "<project>/", "\n".join(errors)).encode()
            for esp, o in sorted(outputs.items()):
                for part in ("html", "text", "subject", "preheader"):
                    out[f"{rel}{variant}:{esp}.{part}"] = getattr(o, part).encode()
    return out


def main() -> None:
    if sys.argv[1:2] == ["--dump"]:
        dump = Path(sys.argv[2])
        for kind, fn in (("shop", shop_outputs), ("compat", compat_outputs)):
            for name, data in fn().items():
                f = dump / kind / name.replace(":", "/").lstrip("(").replace(")", "")
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
        print(f"wrote {dump}")
        return
    for path, fn in ((GOLDEN_SHOP, shop_digests), (GOLDEN_COMPAT, compat_digests)):
        path.write_text(json.dumps(fn(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
