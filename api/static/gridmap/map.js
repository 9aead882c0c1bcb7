/* gridmap's map-page helpers: layers that load GeoJSON from the app's own API (following the
 * OGC API "next" links page by page), popups built from a field list, a load-status badge.
 * Loaded by every page made with api.pages.base.offline_map; needs Leaflet (and, for clustered
 * layers, Leaflet.markercluster). */
(function () {
  "use strict";

  var gridmap = { pending: 0, started: 0, failed: [], features: {} };
  var messages = { loading: "Loading…", failed: "Could not load layer: {layer}" };

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fixed1(v) {
    return Number(v).toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  }

  /* A local date (YYYY-MM-DD) in the configured time zone (messages.tz) of an ISO 8601 time. */
  function localDate(value) {
    var d = new Date(value);
    if (isNaN(d.getTime())) { return String(value); }
    try {
      return new Intl.DateTimeFormat("sv-SE", { timeZone: messages.tz || undefined, year: "numeric",
                                                month: "2-digit", day: "2-digit" }).format(d);
    } catch (e) { return String(value).slice(0, 10); }
  }

  /* A value for people: fmt is "pct" (0-100), "ratio" (0-1, shown as %), "s2min" (seconds shown in
   * minutes), "min", "date", "int", or {enum: {value: label}}; booleans as yes/no. */
  function formatValue(value, fmt) {
    if (fmt && typeof fmt === "object" && fmt["enum"]) {
      var label = fmt["enum"][String(value)];
      return escapeHtml(label === undefined ? value : label);
    }
    if (typeof value === "number") {
      if (fmt === "pct") { return fixed1(value) + "%"; }
      if (fmt === "ratio") { return fixed1(value * 100) + "%"; }
      if (fmt === "s2min") { return fixed1(value / 60) + " " + escapeHtml(messages.min || "min"); }
      if (fmt === "min") { return fixed1(value) + " " + escapeHtml(messages.min || "min"); }
      if (fmt === "int") { return Math.round(value).toLocaleString(); }
      return value.toLocaleString(undefined, { maximumFractionDigits: 1 });
    }
    if (typeof value === "boolean") {
      return escapeHtml(value ? (messages.yes || "yes") : (messages.no || "no"));
    }
    if (fmt === "date") { return escapeHtml(localDate(value)); }
    return escapeHtml(value);
  }

  /* An HTML table of the feature's properties: fields is [[property, label, fmt?], ...]; empty values skipped. */
  function popupHtml(fields, props) {
    var rows = [];
    fields.forEach(function (f) {
      var v = props[f[0]];
      if (v === null || v === undefined || v === "") { return; }
      rows.push("<tr><th>" + escapeHtml(f[1]) + "</th><td>" + formatValue(v, f[2]) + "</td></tr>");
    });
    return '<table class="gridmap-popup">' + rows.join("") + "</table>";
  }

  /* A label's text: template with {property} placeholders (numbers formatted), "\n" a line break. */
  function labelHtml(template, props) {
    return escapeHtml(template).replace(/\{(\w+)\}/g, function (m, k) {
      var v = props[k];
      return v === null || v === undefined ? "" : formatValue(v);
    }).replace(/\n/g, "<br>");
  }

  function statusBox() {
    var el = document.getElementById("gridmap-status");
    if (!el) {
      el = document.createElement("div");
      el.id = "gridmap-status";
      el.className = "gridmap-status";
      document.body.appendChild(el);
    }
    return el;
  }

  function updateStatus() {
    var el = statusBox();
    if (gridmap.failed.length) {
      el.className = "gridmap-status error";
      el.textContent = gridmap.failed.map(function (n) { return messages.failed.replace("{layer}", n); }).join("; ");
    } else {
      el.className = "gridmap-status";
      el.textContent = gridmap.pending > 0 ? messages.loading : "";
    }
  }

  function styleFor(spec) {
    if (!spec.styleBy) { return function () { return spec.style || {}; }; }
    return function (feature) {
      var v = feature.properties[spec.styleBy.property];
      var own = spec.styleBy.values[v] || spec.styleBy["default"] || {};
      return Object.assign({}, spec.style || {}, own);
    };
  }

  /* Fetch url and every page its "next" links lead to, adding each page's features to target. */
  function loadPages(url, target, spec, count) {
    return fetch(url, { headers: { Accept: "application/geo+json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status + " " + r.statusText + " for " + url); }
        return r.json();
      })
      .then(function (fc) {
        target.addData(fc);
        count += (fc.features || []).length;
        var next = (fc.links || []).filter(function (l) { return l.rel === "next"; })[0];
        return next ? loadPages(next.href, target, spec, count) : count;
      });
  }

  /* A layer filled from the API.  spec: {url, name, style, styleBy, point, popup, tooltip, pane,
   * paneZ, cluster, clusterOptions}; parent: the map (or layer) it goes on.  Data arrives in any
   * order, so stacking is fixed by panes (spec.pane, z-index spec.paneZ), not by arrival.
   * Returns the layer to add to the map (a marker cluster group when clustered). */
  gridmap.remoteLayer = function (spec, parent) {
    var style = styleFor(spec);
    var pane;
    if (spec.pane && parent && parent.createPane) {
      if (!parent.getPane(spec.pane)) { parent.createPane(spec.pane).style.zIndex = spec.paneZ || 400; }
      pane = spec.pane;
    }
    var options = {
      style: style,
      onEachFeature: function (feature, layer) {
        if (spec.popup) { layer.bindPopup(popupHtml(spec.popup, feature.properties || {})); }
        if (spec.label && feature.properties) {
          layer.bindTooltip(labelHtml(spec.label.template, feature.properties), {
            permanent: true, direction: "center", className: "gridmap-label", pane: labelPane(parent)
          });
        } else if (spec.tooltip && feature.properties && feature.properties[spec.tooltip] != null) {
          layer.bindTooltip(escapeHtml(feature.properties[spec.tooltip]), { sticky: true });
        }
      }
    };
    if (pane) { options.pane = pane; }
    if (spec.style && spec.style.interactive === false) { options.interactive = false; }
    if (spec.point) {
      options.pointToLayer = function (feature, latlng) {
        return L.circleMarker(latlng, Object.assign(pane ? { pane: pane } : {}, spec.point, style(feature)));
      };
    }
    var geojson = L.geoJson(null, options);
    if (spec.label) { watchZoom(parent, spec.label.minZoom || 0); }
    if (spec.viewport) { return viewportLayer(spec, parent, geojson); }
    var layer = geojson;
    if (spec.cluster) {
      layer = L.markerClusterGroup(spec.clusterOptions || {});
    }
    gridmap.pending += 1;
    gridmap.started += 1;
    updateStatus();
    layer.loaded = loadPages(spec.url, geojson, spec, 0)
      .then(function (n) {
        gridmap.features[spec.name] = n;
        if (spec.cluster) { layer.addLayer(geojson); }
        return n;
      })
      .catch(function (err) {
        gridmap.failed.push(spec.name);
        console.error("gridmap: layer " + spec.name + ": " + err.message);
      })
      .then(function (n) {
        gridmap.pending -= 1;
        updateStatus();
        return n;
      });
    return layer;
  };

  /* Labels (permanent tooltips) go to their own pane, shown only from their minZoom on. */
  function labelPane(map) {
    if (!map || !map.createPane) { return undefined; }
    if (!map.getPane("gridmap-labels")) { map.createPane("gridmap-labels").style.zIndex = 450; }
    return "gridmap-labels";
  }

  function watchZoom(map, minZoom) {
    if (!map || !map.on) { return; }
    var pane = labelPane(map);
    function update() {
      var el = map.getPane(pane);
      if (el) { el.style.display = map.getZoom() >= minZoom ? "" : "none"; }
    }
    map.on("zoomend", update);
    map.whenReady(update);
  }

  /* A layer drawn only from spec.viewport.minZoom on, loaded for the view (bbox, padded by half a
   * view) and reloaded when the view leaves what was loaded: a whole city's streets never travel. */
  function viewportLayer(spec, map, geojson) {
    var minZoom = spec.viewport.minZoom || 0;
    var loaded = null, seq = 0;
    function refresh() {
      if (!map.hasLayer(geojson)) { return; }
      if (map.getZoom() < minZoom) {
        geojson.clearLayers(); loaded = null; seq += 1; gridmap.features[spec.name] = 0; return;
      }
      var view = map.getBounds();
      if (loaded && loaded.contains(view)) { return; }
      var want = view.pad(0.5), mine = ++seq, parts = [];
      var url = spec.url + (spec.url.indexOf("?") < 0 ? "?" : "&") + "bbox=" + [
        want.getWest().toFixed(6), want.getSouth().toFixed(6), want.getEast().toFixed(6), want.getNorth().toFixed(6)
      ].join(",");
      gridmap.pending += 1; gridmap.started += 1; updateStatus();
      loadPages(url, { addData: function (fc) { parts.push(fc); } }, spec, 0).then(function (n) {
        if (mine !== seq) { return; }
        geojson.clearLayers();
        parts.forEach(function (fc) { geojson.addData(fc); });
        loaded = want;
        gridmap.features[spec.name] = n;
      }).catch(function (err) {
        gridmap.failed.push(spec.name);
        console.error("gridmap: layer " + spec.name + ": " + err.message);
      }).then(function () { gridmap.pending -= 1; updateStatus(); });
    }
    map.on("moveend", refresh);
    geojson.on("add", function () { setTimeout(refresh, 0); });
    geojson.on("remove", function () {
      geojson.clearLayers(); loaded = null; seq += 1; gridmap.features[spec.name] = 0;
    });
    gridmap.features[spec.name] = 0;
    return geojson;
  }

  gridmap.setMessages = function (m) { Object.assign(messages, m); updateStatus(); };
  gridmap.formatValue = formatValue;
  gridmap.escapeHtml = escapeHtml;
  gridmap.popupHtml = popupHtml;
  window.gridmap = gridmap;
})();
