// Live α canvas of the Mask explorer (GenEx Lab). No dependencies, nothing fetched.
//
// The server sends, once per track / method / rule / frequency range, the display planes of the
// real mask (see dashboard/alpha_canvas.py): for each display cell the α-grid codes of three
// P order statistics and the estimated vocal power at each level. On every `input` event of
// the slider this module thresholds the codes at the slider step and repaints both canvases;
// on `change` (release of a drag, or a key press) it sends α back to the server as the
// trigger value "alpha". Timings (input event -> canvas repainted) are kept on the root
// element's dataset and in window.__genexAlphaCanvas for the browser tests and the bench.

function unpack(blob) {  // see dashboard/alpha_canvas.py pack(): uint32 n, n bytes JSON, planes
  const n = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0, true);
  const d = JSON.parse(new TextDecoder().decode(blob.subarray(4, 4 + n)));
  d.planes = blob.subarray(4 + n);
  return d;
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function packLut(flat) {  // 256 RGB triplets -> 256 little-endian RGBA words
  const lut = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    lut[i] = (255 << 24) | (flat[3 * i + 2] << 16) | (flat[3 * i + 1] << 8) | flat[3 * i];
  }
  return lut;
}

function niceTicks(max, target) {
  const raw = max / Math.max(1, target);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
  const ticks = [];
  for (let v = 0; v <= max + 1e-9; v += step) ticks.push(v);
  return ticks;
}

function hzLabel(v) { return v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${Math.round(v)}`; }

function rgb(lut, i) {
  const w = lut[i];
  return `rgb(${w & 255},${(w >> 8) & 255},${(w >> 16) & 255})`;
}

function makeState(root) {
  const q = s => root.querySelector(s);
  const st = {
    root,
    slider: q(".ac-slider"),
    value: q(".ac-value"),
    note: q(".ac-note"),
    canvases: { mask: q('canvas[data-panel="mask"]'), estimate: q('canvas[data-panel="estimate"]') },
    token: null, data: null, planes: null, images: null, pending: null, pendingAt: 0,
    dragging: false, setTrigger: null, draws: 0,
  };
  const log = (window.__genexAlphaCanvas = window.__genexAlphaCanvas || { events: [] });
  st.slider.addEventListener("pointerdown", () => { st.dragging = true; });
  window.addEventListener("pointerup", () => { st.dragging = false; });
  st.slider.addEventListener("input", ev => {
    const t0 = ev.timeStamp || performance.now();
    const step = +st.slider.value;
    st.value.textContent = (step / 100).toFixed(2);
    if (!st.planes) return;
    draw(st, step);
    const drawn = performance.now();
    requestAnimationFrame(() => {
      const painted = performance.now();
      const rec = { step, draw_ms: drawn - t0, frame_ms: painted - t0 };
      log.events.push(rec);
      if (log.events.length > 1000) log.events.shift();
      root.dataset.lastDrawMs = rec.draw_ms.toFixed(2);
      root.dataset.lastFrameMs = rec.frame_ms.toFixed(2);
    });
  });
  st.slider.addEventListener("change", () => {
    const step = +st.slider.value;
    st.pending = step;
    st.pendingAt = performance.now();
    root.dataset.sentStep = String(step);
    if (st.setTrigger) st.setTrigger("alpha", step / 100);
  });
  return st;
}

function axes(st, d) {
  for (const panel of st.root.querySelectorAll(".ac-panel")) {
    const y = panel.querySelector(".ac-yaxis");
    y.textContent = "";
    for (const v of niceTicks(d.max_hz, 4)) {
      const t = document.createElement("span");
      t.className = "ac-tick";
      t.style.top = `${100 * (1 - v / d.max_hz)}%`;
      t.textContent = hzLabel(v);
      y.appendChild(t);
    }
    const yt = document.createElement("span");
    yt.className = "ac-ytitle";
    yt.textContent = "Hz";
    y.appendChild(yt);
  }
  const x = st.root.querySelector(".ac-xaxis");
  x.textContent = "";
  for (const v of niceTicks(d.duration_s, 8)) {
    const t = document.createElement("span");
    t.className = "ac-tick";
    t.style.left = `${100 * v / d.duration_s}%`;
    t.textContent = `${+v.toFixed(2)}`;
    x.appendChild(t);
  }
}

function scales(st, d) {
  const mask = st.root.querySelector('.ac-scale[data-panel="mask"]');
  mask.textContent = "";
  const labels = d.mode === "soft" ? ["P = 1", "", "", "P = 0"] : [...d.level_labels].reverse();
  const idx = d.mode === "soft" ? [255, 170, 85, 0] : [255, 170, 85, 0];
  labels.forEach((label, i) => {
    if (d.mode === "soft" && !label) return;
    const row = document.createElement("div");
    row.className = "ac-swatch";
    const sw = document.createElement("i");
    sw.style.background = rgb(st.lutMask, idx[i]);
    row.appendChild(sw);
    row.appendChild(document.createTextNode(label));
    mask.appendChild(row);
  });
  const est = st.root.querySelector('.ac-scale[data-panel="estimate"]');
  est.textContent = "";
  const bar = document.createElement("div");
  bar.className = "ac-bar";
  const c = document.createElement("canvas");
  c.width = 1; c.height = 256;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(1, 256);
  const px = new Uint32Array(img.data.buffer);
  for (let i = 0; i < 256; i++) px[i] = st.lutDb[255 - i];
  ctx.putImageData(img, 0, 0);
  const ticks = document.createElement("div");
  for (const v of [0, -20, -40, -60, -80].filter(v => v >= -d.top_db)) {
    const s = document.createElement("span");
    s.textContent = `${v} dB`;
    ticks.appendChild(s);
  }
  bar.appendChild(c);
  bar.appendChild(ticks);
  est.appendChild(bar);
}

function draw(st, step) {
  const d = st.data, p = st.planes, n = d.rows * d.cols;
  const m = st.images.mask, e = st.images.estimate;
  const mpx = st.images.maskPx, epx = st.images.estPx, lutDb = st.lutDb;
  if (d.mode === "soft") {
    const lm = st.lutMask;
    for (let i = 0; i < n; i++) { mpx[i] = lm[p[i]]; epx[i] = lutDb[p[n + i]]; }
  } else {
    const lv = st.levelColors;
    const floor = lutDb[0];
    for (let i = 0; i < n; i++) {
      const level = (p[i] >= step) + (p[n + i] >= step) + (p[2 * n + i] >= step);
      mpx[i] = lv[level];
      epx[i] = level === 0 ? floor : lutDb[p[(2 + level) * n + i]];
    }
  }
  st.images.maskCtx.putImageData(m, 0, 0);
  st.images.estCtx.putImageData(e, 0, 0);
  st.draws += 1;
  st.root.dataset.draws = String(st.draws);
  st.root.dataset.drawnStep = String(step);
  const a = (step / 100).toFixed(2);
  st.root.querySelector('.ac-panel[data-panel="mask"] .ac-title').textContent =
    d.mode === "soft" ? d.titles.mask : d.titles.mask.replace("{alpha}", a);
}

async function load(st, d) {
  const bytes = await inflate(d.planes);
  if (bytes.length !== d.n_planes * d.rows * d.cols) throw new Error("alpha canvas: bad planes");
  st.planes = bytes;
  st.lutMask = packLut(d.lut_mask);
  st.lutDb = packLut(d.lut_db);
  st.levelColors = new Uint32Array([0, 85, 170, 255].map(i => st.lutMask[i]));
  const mk = cv => {
    cv.width = d.cols; cv.height = d.rows;
    const ctx = cv.getContext("2d");
    const img = ctx.createImageData(d.cols, d.rows);
    return [ctx, img, new Uint32Array(img.data.buffer)];
  };
  const [maskCtx, mask, maskPx] = mk(st.canvases.mask);
  const [estCtx, estimate, estPx] = mk(st.canvases.estimate);
  st.images = { maskCtx, mask, maskPx, estCtx, estimate, estPx };
  st.root.querySelector('.ac-panel[data-panel="estimate"] .ac-title').textContent =
    d.titles.estimate;
  st.root.querySelector(".ac-legend").textContent = d.legend;
  axes(st, d);
  scales(st, d);
}

export default function (component) {
  const { parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".ac-root");
  if (!root || !component.data) return;
  const data = unpack(component.data);
  const st = root.__acState || (root.__acState = makeState(root));
  st.setTrigger = setTriggerValue;
  st.data = data;
  st.slider.disabled = !data.active;
  st.note.textContent = data.note || "";
  root.dataset.active = data.active ? "1" : "0";
  root.dataset.serverStep = String(data.step);
  // the server's α wins unless the user is dragging or the value we sent is still in flight
  // (a sent value that never comes back, e.g. a lost rerun, stops blocking after a minute)
  const stale = st.pending !== null && performance.now() - st.pendingAt < 60000;
  if (st.pending === data.step) st.pending = null;
  const follow = !st.dragging && (st.pending === null || !stale);
  if (follow) {
    st.pending = null;
    st.slider.value = String(data.step);
    st.value.textContent = (data.step / 100).toFixed(2);
  }
  const step = +st.slider.value;
  if (st.token !== data.token) {
    const token = data.token;
    st.token = token;
    st.planes = null;
    root.dataset.ready = "0";
    load(st, data).then(() => {
      if (st.token !== token) return;
      draw(st, +st.slider.value);
      root.dataset.token = token;
      root.dataset.ready = "1";
    }).catch(err => { root.dataset.error = String(err); console.error(err); });
  } else if (st.planes && +root.dataset.drawnStep !== step) {
    draw(st, step);
  }
}
