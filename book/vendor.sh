#!/usr/bin/env bash
# Put MathJax 3, require.js and the Jupyter widgets HTML manager into book/_vendor/, so that the
# built book renders its equations and widgets without internet access. The packages come from the
# npm registry (`npm pack`, no node_modules); book/_vendor/ is not committed and not under _static/
# (Jupyter Book 1 would inject every script there into every page).
set -euo pipefail
cd "$(dirname "$0")"
dest=_vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent mathjax@3.2.2 @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.7 >/dev/null )
rm -rf "$dest.new" && mkdir -p "$dest.new/mathjax/output" "$dest.new/mathjax/input/tex" "$dest.new/html-manager"
for f in "$tmp"/*.tgz; do mkdir -p "$tmp/x" && tar xzf "$f" -C "$tmp/x" && mv "$tmp/x/package" "$tmp/$(basename "$f" .tgz)"; done
mj="$tmp/mathjax-3.2.2/es5"
cp "$mj/tex-mml-chtml.js" "$dest.new/mathjax/"
cp -r "$mj/output/chtml.js" "$mj/output/chtml" "$dest.new/mathjax/output/"
cp -r "$mj/input/tex/extensions" "$dest.new/mathjax/input/tex/"
cp "$tmp/mathjax-3.2.2/LICENSE" "$dest.new/mathjax/"
( cd "$tmp/jupyter-widgets-html-manager-1.0.6/dist" && find . -type f ! -name '*.map' -exec cp --parents {} "$OLDPWD/$dest.new/html-manager/" \; )
cp "$tmp/requirejs-2.3.7/require.js" "$dest.new/"
rm -rf "$dest" && mv "$dest.new" "$dest"
touch "$dest/.complete"
echo "vendored MathJax, require.js and the widget manager into book/$dest ($(du -sh "$dest" | cut -f1))"
