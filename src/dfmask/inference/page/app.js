// The upload page: a client of POST /v1/predict (no library, no network beyond this server).
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

function show(id, on) { $(id).hidden = !on; }

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// p_fake of every face crop against its time in the video, one dot per crop, a line at the threshold.
function drawChart(doc) {
  const svg = $("chart");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const w = 640, h = 200, left = 40, bottom = 24, top = 8;
  const frames = doc.frames || [];
  const tmax = Math.max(doc.duration_s || 0, ...frames.map((f) => f.time_s), 1e-6);
  const x = (t) => left + (t / tmax) * (w - left - 10);
  const y = (p) => top + (1 - p) * (h - top - bottom);
  svg.appendChild(svgEl("line", { x1: left, y1: y(0), x2: w - 10, y2: y(0), stroke: "#888" }));
  svg.appendChild(svgEl("line", { x1: left, y1: y(0), x2: left, y2: y(1), stroke: "#888" }));
  for (const p of [0, 0.5, 1]) {
    const label = svgEl("text", { x: 4, y: y(p) + 4, "font-size": 11 });
    label.textContent = p.toFixed(1);
    svg.appendChild(label);
  }
  const thr = svgEl("line", { x1: left, y1: y(doc.threshold), x2: w - 10, y2: y(doc.threshold),
    stroke: "#b3261e", "stroke-dasharray": "4 3", class: "threshold" });
  svg.appendChild(thr);
  const xl = svgEl("text", { x: w - 90, y: h - 6, "font-size": 11 });
  xl.textContent = "time (s) →";
  svg.appendChild(xl);
  for (const f of frames) {
    const dot = svgEl("circle", { cx: x(f.time_s), cy: y(f.p_fake), r: 4, class: "frame",
      fill: f.p_fake >= doc.threshold ? "#b3261e" : "#1e6b34" });
    const tip = svgEl("title", {});
    tip.textContent = `frame ${f.frame_idx} (track ${f.track_id}): p_fake ${f.p_fake.toFixed(3)}, ` +
      `area ${(100 * f.manipulated_area).toFixed(1)} %`;
    dot.appendChild(tip);
    svg.appendChild(dot);
  }
}

function render(doc) {
  const verdict = $("verdict");
  if (doc.status === "no_face") {
    verdict.textContent = "NO FACE FOUND";
    verdict.className = "verdict none";
  } else {
    verdict.textContent = doc.label;
    verdict.className = "verdict " + (doc.label === "FAKE" ? "fake" : "real");
  }
  $("pfake").textContent = doc.p_fake.toFixed(3);
  $("threshold").textContent = doc.threshold;
  $("aggregation").textContent = doc.aggregation;
  $("calibration").textContent = doc.calibration.method;
  $("status").textContent = doc.status;
  $("faces").textContent = (doc.frames || []).length;
  drawChart(doc);
  const img = $("overlay");
  if (doc.overlay_png) {
    img.src = "data:image/png;base64," + doc.overlay_png;
    img.hidden = false;
  } else {
    img.removeAttribute("src");
    img.hidden = true;
  }
  show("result", true);
}

function fail(message) {
  $("error").textContent = message;
  show("error", true);
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  show("error", false);
  show("result", false);
  if (!file) { fail("Choose a video file first."); return; }
  const body = new FormData();
  body.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/predict?overlay=true");
  xhr.responseType = "json";
  show("progress", true);
  $("phase").textContent = "uploading";
  $("bar").removeAttribute("value");
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) $("bar").value = Math.round((100 * e.loaded) / e.total);
  };
  xhr.upload.onload = () => { $("phase").textContent = "scoring (finding faces, running the model)"; };
  xhr.onload = () => {
    show("progress", false);
    const doc = xhr.response;
    if (xhr.status === 200 && doc) render(doc);
    else fail(doc && doc.error ? `${doc.error.message} (${xhr.status} ${doc.error.code})` : `HTTP ${xhr.status}`);
  };
  xhr.onerror = () => { show("progress", false); fail("The server could not be reached."); };
  xhr.send(body);
});
