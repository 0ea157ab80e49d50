"""Build .dvc/plots/offline.html: the page `dvc plots show` fills, with vega inlined.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so its charts are
blank on a machine without network (a cluster node, a train). This page inlines the
three libraries, at the versions DVC's own page asks for, taken from the npm registry
(``npm pack``) and checked against the registry's sha512 integrity pinned below. It has
no ``{scripts}`` placeholder, so DVC adds no CDN tag. .dvc/config names it
(``plots.html_template``); docs/plots.md tells how to use it.

Run from the repository root (needs ``npm`` and the network, once)::

    python -m tools.plots_template            # writes .dvc/plots/offline.html
    python -m tools.plots_template --check    # exit 1 if the committed page differs

The output depends only on the pinned packages: the same bytes on every machine.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".dvc" / "plots" / "offline.html"

# (package, version, file in the tarball, npm dist.integrity); the versions are those of
# dvc_render.vega.VegaRenderer.SCRIPTS, so the specs DVC writes are the ones they read.
PACKAGES = (
    (
        "vega",
        "5.20.2",
        "package/build/vega.min.js",
        "sha512-qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw==",
    ),
    (
        "vega-lite",
        "5.2.0",
        "package/build/vega-lite.min.js",
        "sha512-Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw==",
    ),
    (
        "vega-embed",
        "6.18.2",
        "package/build/vega-embed.min.js",
        "sha512-wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg==",
    ),
)

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {{refresh_tag}}
    <title>dfmask plots</title>
    <!-- Built by tools/plots_template.py: {versions} (BSD-3-Clause, (c) the
         University of Washington Interactive Data Lab), inlined so the charts draw
         without network. -->
{inline}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def _fetch(package: str, version: str, member: str, integrity: str, workdir: Path) -> str:
    """The ``member`` file of ``package@version``'s npm tarball, integrity-checked."""
    name = (
        subprocess.run(
            ["npm", "pack", f"{package}@{version}", "--silent"],
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    tarball = workdir / name
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != integrity:
        raise SystemExit(f"{package}@{version}: tarball sha512 {digest} is not the pinned {integrity}")
    with tarfile.open(tarball) as tar:
        data = tar.extractfile(member)
        if data is None:
            raise SystemExit(f"{package}@{version}: no {member} in the tarball")
        text = data.read().decode("utf-8")
    for forbidden in ("</script", "{plot_divs}", "{scripts}", "{refresh_tag}"):
        if forbidden in text:  # would end the inline script early, or be filled by DVC
            raise SystemExit(f"{package}@{version}: {member} contains {forbidden!r}; cannot inline it")
    return text


def build() -> str:
    """The page's text (see module docstring)."""
    with tempfile.TemporaryDirectory(prefix="plots-template-") as tmp:
        scripts = [_fetch(*pkg, Path(tmp)) for pkg in PACKAGES]
    inline = "\n".join(
        f"    <!-- {name}@{version} -->\n    <script>{text.strip()}</script>"
        for (name, version, _, _), text in zip(PACKAGES, scripts, strict=True)
    )
    versions = ", ".join(f"{name}@{version}" for name, version, _, _ in PACKAGES)
    return PAGE.format(versions=versions, inline=inline)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed page instead of writing")
    args = parser.parse_args()
    page = build()
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == page
        print(f"{OUT.relative_to(REPO)}: {'up to date' if same else 'differs from a fresh build'}")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(page, encoding="utf-8")
    print(f"{OUT.relative_to(REPO)}: {len(page.encode()):,} bytes ({', '.join(p[0] + '@' + p[1] for p in PACKAGES)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
