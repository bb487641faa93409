"""Copy the browser libraries the book serves itself into _build/vendor-static/vendor/.

`make book` installs the pinned npm packages of vendor/package.json (with
`npm ci`, from vendor/package-lock.json) into _build/vendor-npm/, then runs
this script. _config.yml lists _build/vendor-static in `html_extra_path`, so
the files land at _build/html/vendor/ and every page loads MathJax, RequireJS
and the widget manager from the book itself: no CDN, so math and widgets work
offline. (Nothing goes under _static: Jupyter Book v1 would inject every .js
file there into every page.)

    python tools/vendor_assets.py NODE_MODULES OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# source (relative to node_modules) -> destination (relative to OUT_DIR/vendor)
COPIES = {
    "mathjax/es5/tex-chtml.js": "mathjax/tex-chtml.js",
    "mathjax/es5/output/chtml": "mathjax/output/chtml",  # fonts, loaded relative to the script
    "mathjax/es5/input/tex/extensions": "mathjax/input/tex/extensions",  # autoloaded packages
    "mathjax/es5/ui": "mathjax/ui",  # the right-click menu, loaded lazily
    "mathjax/es5/a11y": "mathjax/a11y",
    "mathjax/es5/adaptors": "mathjax/adaptors",
    "mathjax/LICENSE": "mathjax/LICENSE",
    "requirejs/require.js": "requirejs/require.js",
    "@jupyter-widgets/html-manager/dist": "html-manager",
}
SKIP = shutil.ignore_patterns("*.map", "embed.js", "embed.js.LICENSE.txt")


def main(node_modules: Path, out: Path) -> None:
    target = out / "vendor"
    shutil.rmtree(target, ignore_errors=True)
    for src, dst in COPIES.items():
        source, dest = node_modules / src, target / dst
        if not source.exists():
            raise SystemExit(
                f"vendor_assets: {source} is missing; is vendor/package.json installed?"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, ignore=SKIP, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"vendor_assets: {size / 1e6:.1f} MB of browser libraries in {target}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
