/* gridmap's vector-tile layers: Mapbox vector tiles from the app's OGC API Tiles
 * (/collections/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}) drawn on canvas tiles (a Leaflet GridLayer),
 * so a county's grids, streets or dwellings never travel as GeoJSON.  gridmap's own code: a small
 * MVT (protobuf) reader and a canvas painter; needs Leaflet and map.js (window.gridmap).
 * Popups: a click asks the features API for what lies under the pointer (one small request). */
(function () {
  "use strict";
  // map.js's state on the map pages; a page without map.js (the workbench) gets the counters alone
  var gridmap = window.gridmap || (window.gridmap = { pending: 0, started: 0, failed: [], features: {} });

  /* --- a minimal protobuf reader for the Mapbox Vector Tile schema (version 2) --- */
  function Reader(buf) { this.buf = buf; this.pos = 0; }
  Reader.prototype.varint = function () {
    var b = this.buf, r = 0, s = 1, c;
    do { c = b[this.pos++]; r += (c & 0x7f) * s; s *= 128; } while (c >= 0x80);
    return r;
  };
  Reader.prototype.skip = function (wire) {
    if (wire === 0) { this.varint(); } else if (wire === 1) { this.pos += 8; }
    else if (wire === 2) { this.pos += this.varint(); } else if (wire === 5) { this.pos += 4; }
    else { throw new Error("mvt: wire type " + wire); }
  };
  Reader.prototype.bytes = function () { var n = this.varint(), s = this.pos; this.pos += n; return this.buf.subarray(s, s + n); };
  var utf8 = new TextDecoder("utf-8");
  Reader.prototype.string = function () { return utf8.decode(this.bytes()); };
  Reader.prototype.packed = function () {
    var end = this.varint() + this.pos, out = [];
    while (this.pos < end) { out.push(this.varint()); }
    return out;
  };
  function zigzag(n) { return (n % 2) ? -(n + 1) / 2 : n / 2; }

  function readValue(r) {
    var end = r.varint() + r.pos, v = null, dv;
    while (r.pos < end) {
      var tag = r.varint(), f = tag >> 3;
      if (f === 1) { v = r.string(); }
      else if (f === 2) { dv = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 4); v = dv.getFloat32(0, true); r.pos += 4; }
      else if (f === 3) { dv = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8); v = dv.getFloat64(0, true); r.pos += 8; }
      else if (f === 4 || f === 5) { v = r.varint(); }
      else if (f === 6) { v = zigzag(r.varint()); }
      else if (f === 7) { v = r.varint() !== 0; }
      else { r.skip(tag & 7); }
    }
    return v;
  }

  /* Decode a tile: [{name, extent, features: [{type, properties, rings: [[x, y, ...], ...]}]}]. */
  function decode(buf) {
    var r = new Reader(buf), layers = [];
    while (r.pos < buf.length) {
      var tag = r.varint();
      if ((tag >> 3) !== 3) { r.skip(tag & 7); continue; }
      var end = r.varint() + r.pos, layer = { name: "", extent: 4096, keys: [], values: [], raw: [] };
      while (r.pos < end) {
        var t = r.varint(), f = t >> 3;
        if (f === 1) { layer.name = r.string(); }
        else if (f === 2) { layer.raw.push(r.bytes()); }
        else if (f === 3) { layer.keys.push(r.string()); }
        else if (f === 4) { layer.values.push(readValue(r)); }
        else if (f === 5) { layer.extent = r.varint(); }
        else { r.skip(t & 7); }
      }
      layer.features = layer.raw.map(function (bytes) { return readFeature(new Reader(bytes), layer); });
      delete layer.raw;
      layers.push(layer);
    }
    return layers;
  }

  function readFeature(r, layer) {
    var feat = { type: 0, properties: {}, rings: [] }, tags = [], geom = [];
    while (r.pos < r.buf.length) {
      var t = r.varint(), f = t >> 3;
      if (f === 2) { tags = r.packed(); }
      else if (f === 3) { feat.type = r.varint(); }
      else if (f === 4) { geom = r.packed(); }
      else { r.skip(t & 7); }
    }
    for (var i = 0; i + 1 < tags.length; i += 2) { feat.properties[layer.keys[tags[i]]] = layer.values[tags[i + 1]]; }
    var x = 0, y = 0, ring = null, k = 0;
    while (k < geom.length) {
      var cmd = geom[k] & 7, count = geom[k] >> 3; k += 1;
      if (cmd === 7) { if (ring) { ring.closed = true; } continue; }
      for (var c = 0; c < count; c++) {
        x += zigzag(geom[k]); y += zigzag(geom[k + 1]); k += 2;
        if (cmd === 1) { ring = [x, y]; feat.rings.push(ring); } else { ring.push(x, y); }
      }
    }
    return feat;
  }
  gridmap.decodeTile = decode;

  /* --- painting --- */
  function styleOf(spec, props) {
    var st = Object.assign({}, spec.style || {});
    if (spec.styleBy) {
      Object.assign(st, spec.styleBy.values[props[spec.styleBy.property]] || spec.styleBy["default"] || {});
    }
    return st;
  }

  function paint(ctx, feat, st, scale, spec) {
    ctx.beginPath();
    if (feat.type === 1) {  // points
      var rad = (spec.point && spec.point.radius) || 3;
      feat.rings.forEach(function (p) { ctx.moveTo(p[0] * scale + rad, p[1] * scale); ctx.arc(p[0] * scale, p[1] * scale, rad, 0, 2 * Math.PI); });
    } else {
      feat.rings.forEach(function (ring) {
        ctx.moveTo(ring[0] * scale, ring[1] * scale);
        for (var i = 2; i < ring.length; i += 2) { ctx.lineTo(ring[i] * scale, ring[i + 1] * scale); }
        if (feat.type === 3) { ctx.closePath(); }
      });
    }
    if (feat.type !== 2 && st.fill !== false && (st.fillColor || feat.type === 1)) {
      ctx.globalAlpha = st.fillOpacity === undefined ? 0.2 : st.fillOpacity;
      ctx.fillStyle = st.fillColor || st.color || "#3388ff";
      ctx.fill("evenodd");
    }
    if (st.stroke !== false && st.weight !== 0) {
      ctx.globalAlpha = st.opacity === undefined ? 1 : st.opacity;
      ctx.strokeStyle = st.color || "#3388ff";
      ctx.lineWidth = st.weight === undefined ? 1 : st.weight;
      ctx.setLineDash(st.dashArray ? String(st.dashArray).split(/[ ,]+/).map(Number) : []);
      ctx.lineCap = st.lineCap || "round";
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  /* The rows of spec.join ({url, rows, key, derive}): fetched once, indexed by their key; each row
   * gains the derived properties (derive: {name: {property, floors: [[floor, value], ...], default}},
   * the first floor the row's property reaches names the value). */
  function joinRows(spec) {
    var j = spec.join;
    gridmap.pending += 1; gridmap.started += 1;
    return fetch(j.url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error(r.status + " " + r.statusText + " for " + j.url); }
      return r.json();
    }).then(function (body) {
      var byKey = {};
      (j.rows ? body[j.rows] : body).forEach(function (row) {
        Object.keys(j.derive || {}).forEach(function (name) {
          var d = j.derive[name], v = row[d.property], out = d["default"];
          for (var i = 0; i < d.floors.length; i++) { if (v !== null && v >= d.floors[i][0]) { out = d.floors[i][1]; break; } }
          row[name] = out;
        });
        byKey[row[j.key]] = row;
      });
      return byKey;
    }).finally(function () { gridmap.pending -= 1; });
  }

  /* A layer of one collection's tiles.  spec: {collection, name, properties, style, styleBy,
   * point, popup, key, minZoom, pane, paneZ, join}; key: the property that names a feature (features
   * are counted once however many tiles they cross, in gridmap.features[name]); join: rows from
   * another answer merged into each feature by spec.join.key (then only the features with a row
   * are counted and styled by styleBy; the others are drawn in the layer's own style). */
  gridmap.tileLayer = function (spec, map) {
    var joined = spec.join ? joinRows(spec) : Promise.resolve(null);
    function propsOf(p, byKey) {
      return byKey ? Object.assign({}, p, byKey[p[spec.join.key]] || {}) : p;
    }
    if (spec.pane && map.createPane && !map.getPane(spec.pane)) { map.createPane(spec.pane).style.zIndex = spec.paneZ || 400; }
    var perTile = {}, live = {};  // live: the canvas of each tile still on the map, by z/x/y
    function recount() {
      var keys = {};
      Object.keys(perTile).forEach(function (t) { perTile[t].forEach(function (k) { keys[k] = true; }); });
      gridmap.features[spec.name] = Object.keys(keys).length;
    }
    var Layer = L.GridLayer.extend({
      createTile: function (coords, done) {
        var tile = L.DomUtil.create("canvas", "gridmap-vector-tile");
        var size = this.getTileSize();
        tile.width = size.x; tile.height = size.y;
        var id = coords.z + "/" + coords.x + "/" + coords.y;
        if (coords.z < (spec.minZoom || 0)) {  // below the layer's zoom: an empty tile, nothing asked
          setTimeout(function () { done(null, tile); }, 0);
          return tile;
        }
        live[id] = tile;
        var url = "/collections/" + spec.collection + "/tiles/WebMercatorQuad/" + id +
          (spec.properties ? "?properties=" + encodeURIComponent(spec.properties.join(",")) : "");
        gridmap.pending += 1; gridmap.started += 1;
        Promise.all([fetch(url, { credentials: "same-origin" }).then(function (r) {
          if (!r.ok) { throw new Error(r.status + " " + r.statusText + " for " + url); }
          return r.arrayBuffer();
        }), joined]).then(function (got) {
          var ctx = tile.getContext("2d"), keys = [], byKey = got[1];
          decode(new Uint8Array(got[0])).forEach(function (layer) {
            var scale = size.x / layer.extent;
            layer.features.forEach(function (feat) {
              var props = propsOf(feat.properties, byKey), has = !byKey || props[spec.join.key] in byKey;
              paint(ctx, feat, has ? styleOf(spec, props) : Object.assign({}, spec.style || {}), scale, spec);
              if (has) { keys.push(spec.key ? props[spec.key] : id + ":" + keys.length); }
            });
          });
          // a tile unloaded while it was loading (the map zoomed on) counts no features
          if (live[id] === tile) { perTile[id] = keys; recount(); }
          done(null, tile);
        }).catch(function (err) {
          if (gridmap.failed.indexOf(spec.name) < 0) { gridmap.failed.push(spec.name); }
          console.error("gridmap: layer " + spec.name + ": " + err.message);
          done(err, tile);
        }).then(function () { gridmap.pending -= 1; });
        return tile;
      }
    });
    // no minZoom option: Leaflet makes a layer's zoom range the map's, and a layer from
    // zoom 14 on (the streets) would zoom the whole map in to 14 as it is added
    var layer = new Layer({ pane: spec.pane || "overlayPane", maxNativeZoom: 18, maxZoom: 22,
                            updateWhenZooming: false, keepBuffer: 1 });
    layer.on("tileunload", function (e) {
      var c = e.coords, id = c.z + "/" + c.x + "/" + c.y;
      if (live[id] === e.tile) { delete live[id]; }
      delete perTile[id]; recount();
    });
    layer.on("remove", function () { perTile = {}; live = {}; recount(); });
    gridmap.features[spec.name] = 0;
    if (spec.popup) {
      map.on("click", function (e) {
        if (!map.hasLayer(layer) || map.getZoom() < (spec.minZoom || 0)) { return; }
        var target = e.originalEvent && e.originalEvent.target;
        if (target && target.closest && target.closest("path.leaflet-interactive")) { return; }  // a station's own popup
        var p = e.latlng, d = 1e-7;
        var url = "/collections/" + spec.collection + "/items?limit=1&bbox=" +
          [p.lng - d, p.lat - d, p.lng + d, p.lat + d].map(function (v) { return v.toFixed(7); }).join(",");
        fetch(url, { headers: { Accept: "application/geo+json" }, credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (fc) {
            var f = (fc.features || [])[0];
            if (!f) { return; }
            return joined.then(function (byKey) {
              var props = propsOf(f.properties || {}, byKey);
              if (byKey && !(props[spec.join.key] in byKey)) { return; }
              L.popup().setLatLng(p).setContent(gridmap.popupHtml(spec.popup, props)).openOn(map);
            });
          });
      });
    }
    return layer;
  };
})();
