#!/usr/bin/env bash
# Vendor the JS/CSS that gridmap's Folium pages load into api/static/vendor/, so pages work with no
# internet (government intranets).  Run it again only to change versions; the result is committed.
#
# Sources: the npm registry (`npm pack`, the only JS source this project relies on) at the versions
# folium 0.20 asks for, and the JS that folium ships in its own wheel (folium/templates).
# api/pages/base.py maps every folium CDN URL onto these files; api/static/vendor/README.md lists
# versions and licences.  Deviations from folium's exact versions are noted beside each package.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=api/static/vendor
PY=${PY:-.venv/bin/python}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# unpack SPEC: `npm pack` one package@version and extract it to $TMP/<name>/package
unpack() {
  local spec=$1 name=$2
  mkdir -p "$TMP/$name"
  (cd "$TMP/$name" && npm pack "$spec" --silent >/dev/null 2>&1 && tar xzf ./*.tgz)
  echo "$TMP/$name/package"
}

# put SRC_DIR DEST_SUBDIR FILE...: copy FILEs (relative to SRC_DIR; directories recursively) keeping
# their relative paths under $DEST/DEST_SUBDIR
put() {
  local src=$1 sub=$2; shift 2
  mkdir -p "$DEST/$sub"
  for f in "$@"; do
    mkdir -p "$DEST/$sub/$(dirname "$f")"
    cp -r "$src/$f" "$DEST/$sub/$f"
  done
}

mkdir -p "$DEST"
find "$DEST" -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +   # README.md is hand-written

p=$(unpack leaflet@1.9.3 leaflet)
put "$p/dist" leaflet leaflet.js leaflet.css images
put "$p" leaflet LICENSE

p=$(unpack jquery@3.7.1 jquery)
put "$p/dist" jquery jquery.min.js
put "$p" jquery LICENSE.txt

p=$(unpack bootstrap@5.2.2 bootstrap)
put "$p/dist" bootstrap css/bootstrap.min.css js/bootstrap.bundle.min.js
put "$p" bootstrap LICENSE

p=$(unpack @fortawesome/fontawesome-free@6.2.0 fontawesome-free)
put "$p" fontawesome-free css/all.min.css webfonts LICENSE.txt

# folium asks for 2.0.2 (cdnjs only); npm's nearest is 2.0.5, same API and sprite names.
p=$(unpack leaflet.awesome-markers@2.0.5 leaflet.awesome-markers)
put "$p/dist" leaflet.awesome-markers leaflet.awesome-markers.js leaflet.awesome-markers.css images
put "$p" leaflet.awesome-markers LICENSE

p=$(unpack leaflet.markercluster@1.1.0 leaflet.markercluster)
put "$p/dist" leaflet.markercluster leaflet.markercluster.js MarkerCluster.css MarkerCluster.Default.css
put "$p" leaflet.markercluster MIT-LICENCE.txt

p=$(unpack leaflet-draw@1.0.2 leaflet-draw)   # MIT (package.json); the npm package has no LICENSE file
put "$p/dist" leaflet-draw leaflet.draw.js leaflet.draw.css images

p=$(unpack iso8601-js-period@0.2.1 iso8601-js-period)   # Apache-2.0 (package.json); no minified build
put "$p" iso8601-js-period iso8601.js

p=$(unpack leaflet-timedimension@1.1.1 leaflet-timedimension)
put "$p/dist" leaflet-timedimension leaflet.timedimension.min.js leaflet.timedimension.control.min.css
put "$p" leaflet-timedimension LICENSE

p=$(unpack moment@2.18.1 moment)
put "$p/min" moment moment.min.js
put "$p" moment LICENSE

# folium asks for jquery-ui 1.10.2 (cdnjs only).  npm's 1.10.4 is a CommonJS module
# (`require('jquery')`, breaks in a browser) and 1.12.x has no built file: 1.13.2 is the nearest
# version with a browser build, and the one made for jQuery 3.
p=$(unpack jquery-ui@1.13.2 jquery-ui)
put "$p/dist" jquery-ui jquery-ui.min.js
put "$p" jquery-ui LICENSE.txt

p=$(unpack highlight.js@8.4.0 highlight.js)
put "$p" highlight.js styles/default.css LICENSE

p=$(unpack d3@4.13.0 d3)   # folium asks for "d3.v4" (latest 4.x)
put "$p/build" d3 d3.min.js
put "$p" d3 LICENSE

p=$(unpack d3@3.5.5 d3-v3)   # branca's colormap legend (LinearColormap/StepColormap) hard-codes d3 3.5.5
put "$p" d3-v3 d3.min.js LICENSE

# Swagger UI for /docs (FastAPI's default page loads it from jsdelivr; FastAPI asks for "@5").
p=$(unpack swagger-ui-dist@5.35.0 swagger-ui)
put "$p" swagger-ui swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE

# The timedimension control's CSS loads bootstrap 3's glyphicons font from netdna.bootstrapcdn.com;
# serve the font from bootstrap 3.4.1 (npm has no 3.0.0) and point the CSS at it.
p=$(unpack bootstrap@3.4.1 bootstrap3)
put "$p/dist" bootstrap3 fonts
put "$p" bootstrap3 LICENSE
sed -i 's#//netdna.bootstrapcdn.com/bootstrap/3.0.0/fonts/#../bootstrap3/fonts/#g' \
  "$DEST/leaflet-timedimension/leaflet.timedimension.control.min.css"

# folium's own JS (Leaflet.heat build, heatmap.js + its Leaflet layer) ships in the folium wheel.
FOLIUM=$("$PY" -c 'import folium, pathlib; print(pathlib.Path(folium.__file__).parent)')
mkdir -p "$DEST/folium"
cp "$FOLIUM"/templates/*.js "$DEST/folium/"
cp "$FOLIUM"/../folium-*.dist-info/licenses/LICENSE.txt "$DEST/folium/LICENSE.txt" 2>/dev/null \
  || cp "$FOLIUM"/../folium-*.dist-info/LICENSE* "$DEST/folium/" 2>/dev/null || true

# Nothing vendored may reach out to the internet by itself (fonts, images, imports in CSS).
if grep -rIlE 'url\((["'"'"']?)(https?:)?//' "$DEST" --include='*.css'; then
  echo "error: a vendored stylesheet still loads something from the internet (listed above)" >&2
  exit 1
fi
du -sh "$DEST"
