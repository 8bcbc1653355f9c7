/** How many other participants a page receives at once: fixed receive-only transceivers instead of renegotiation. */
export const PAGE_SLOTS = 4;

/**
 * The page a person joins a meeting from (no external resources). It offers its camera
 * and microphone (sendrecv), PAGE_SLOTS receive-only audio/video pairs and a sendrecv
 * content video (its screen share out, the sharer's in: negotiated from the start, as
 * the meeting does not renegotiate); the SFU answers and says in `roster` events which
 * participant is in which slot and in `sharing` events who shares. For automated tests
 * it exposes `window.meeting`: `participantId`, `state`, `stats()` (per remote
 * participant, from getStats inbound-rtp by mid), `contentStats()` (the content tile's),
 * `shareScreen()`/`stopSharing()`, `sharer`, `sharing`, `route()` (the selected ICE
 * candidate pair's two ends, and the addresses this page offered) and
 * `audioSpectrum(participantId, ms)` (that participant's received audio through WebAudio:
 * RMS and the strongest frequency between 100 and 2000 Hz).
 */
export function meetingPage(options: { meetingId: string; basePath: string; slots?: number }): string {
  const config = JSON.stringify({ meetingId: options.meetingId, basePath: options.basePath, slots: options.slots ?? PAGE_SLOTS }).replace(
    /</g,
    "\\u003c",
  );
  const title = escapeHtml(options.meetingId);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Meeting ${title} (Teams meeting emulator)</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1rem; background: #f4f4f8; color: #222; }
  header h1 { font-size: 1.2rem; margin: 0 0 .25rem; }
  #meeting-id { font-family: monospace; font-size: .8rem; color: #555; word-break: break-all; }
  #join { margin: 1rem 0; display: flex; gap: .5rem; }
  #status { margin-bottom: 1rem; font-weight: 600; }
  main { display: flex; gap: 1rem; align-items: flex-start; }
  #tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: .5rem; flex: 1; }
  .tile { position: relative; background: #222; border-radius: 6px; overflow: hidden; aspect-ratio: 16 / 9; }
  .tile video { width: 100%; height: 100%; object-fit: contain; }
  .tile span { position: absolute; left: .5rem; bottom: .4rem; color: #fff; background: rgba(0,0,0,.55); padding: .1rem .4rem; border-radius: 4px; }
  aside { width: 16rem; background: #fff; border-radius: 6px; padding: .75rem; }
  aside h2 { font-size: 1rem; margin: 0 0 .5rem; }
  #roster { padding-left: 1.1rem; margin: 0 0 .75rem; }
  #content-tile { grid-column: 1 / -1; }
</style>
</head>
<body>
<header><h1>Teams meeting (emulator)</h1><div id="meeting-id">${title}</div></header>
<section id="join"><input id="name" placeholder="Your name" maxlength="256" autocomplete="name"><button id="join-button">Join</button></section>
<div id="status">Not joined</div>
<main>
  <div id="tiles">
    <div class="tile" id="content-tile" hidden><video id="content" autoplay muted playsinline></video><span id="content-label"></span></div>
    <div class="tile"><video id="preview" autoplay muted playsinline></video><span>You</span></div>
  </div>
  <aside><h2>Roster</h2><ul id="roster"></ul><button id="share-button" disabled>Share screen</button> <button id="leave-button" disabled>Leave</button></aside>
</main>
<script>
const CONFIG = ${config};
${SCRIPT}
</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const SCRIPT = `
(() => {
  const base = CONFIG.basePath + "/" + encodeURIComponent(CONFIG.meetingId);
  const $ = (id) => document.getElementById(id);
  const s = { participantId: null, state: "idle", error: null, pc: null, local: null, events: null, slots: [], roster: [], audioContext: null, content: null, share: null, sharer: null };

  function setState(state, text) {
    s.state = state;
    $("status").textContent = text || state;
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 5000);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  // The meeting forwards H.264 (packetization mode 1) only: offer it first, Constrained Baseline 3.1 before the rest.
  function preferH264(transceiver) {
    try {
      const codecs = RTCRtpReceiver.getCapabilities("video").codecs.filter(
        (c) => c.mimeType.toLowerCase() === "video/h264" && /packetization-mode=1/.test(c.sdpFmtpLine || ""),
      );
      codecs.sort((a, b) => Number(/42e01f/.test(b.sdpFmtpLine)) - Number(/42e01f/.test(a.sdpFmtpLine)));
      if (codecs.length) transceiver.setCodecPreferences(codecs);
    } catch (e) {
      console.warn("could not prefer H.264", e);
    }
  }

  function makeTile(index, audio, video) {
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.hidden = true;
    tile.dataset.slot = String(index);
    const videoElement = document.createElement("video");
    videoElement.autoplay = true;
    videoElement.playsInline = true;
    videoElement.muted = true;
    videoElement.srcObject = new MediaStream([video.receiver.track]);
    // Chrome feeds remote WebRTC audio to WebAudio only while a media element plays it.
    const audioElement = document.createElement("audio");
    audioElement.autoplay = true;
    audioElement.srcObject = new MediaStream([audio.receiver.track]);
    const label = document.createElement("span");
    tile.append(videoElement, audioElement, label);
    $("tiles").append(tile);
    return { audio, video, tile, label, videoElement, audioElement, participantId: null };
  }

  function showRoster(entries) {
    s.roster = entries;
    const list = $("roster");
    list.textContent = "";
    for (const e of entries) {
      const item = document.createElement("li");
      item.textContent = e.displayName + " (" + e.kind + ")" + (e.participantId === s.participantId ? " (you)" : "");
      item.dataset.participantId = e.participantId;
      list.append(item);
    }
    s.slots.forEach((slot, index) => {
      const entry = entries.find((e) => e.slot === index);
      slot.participantId = entry ? entry.participantId : null;
      slot.tile.hidden = !entry;
      slot.label.textContent = entry ? entry.displayName + (entry.kind === "bot" ? " (bot)" : "") : "";
      if (entry) {
        slot.videoElement.play().catch(() => {});
        slot.audioElement.play().catch(() => {});
      }
    });
  }

  function onConnectionState() {
    const state = s.pc && s.pc.connectionState;
    if (state === "connected") setState("connected", "In the meeting");
    else if (state === "failed") leave("the media connection failed");
  }

  async function join(name) {
    if (!["idle", "left", "failed"].includes(s.state)) return;
    name = (name || "").trim();
    if (!name) {
      $("status").textContent = "Enter a name to join";
      return;
    }
    setState("joining", "Joining…");
    s.error = null;
    try {
      s.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
      $("preview").srcObject = s.local;
      const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
      s.pc = pc;
      pc.addTransceiver(s.local.getAudioTracks()[0], { direction: "sendrecv", streams: [s.local] });
      preferH264(pc.addTransceiver(s.local.getVideoTracks()[0], { direction: "sendrecv", streams: [s.local] }));
      for (const slot of s.slots) slot.tile.remove();
      s.slots = [];
      for (let i = 0; i < CONFIG.slots; i++) {
        const audio = pc.addTransceiver("audio", { direction: "recvonly" });
        const video = pc.addTransceiver("video", { direction: "recvonly" });
        preferH264(video);
        s.slots.push(makeTile(i, audio, video));
      }
      // The screen share both ways, last: sends nothing until this page shares (replaceTrack, no renegotiation).
      s.content = pc.addTransceiver("video", { direction: "sendrecv" });
      preferH264(s.content);
      $("content").srcObject = new MediaStream([s.content.receiver.track]);
      pc.addEventListener("connectionstatechange", onConnectionState);
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const response = await fetch(base + "/participants", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ displayName: name, sdp: pc.localDescription.sdp }),
      });
      const body = await response.json();
      if (response.status !== 201) throw new Error(body.detail || "HTTP " + response.status);
      s.participantId = body.participantId;
      setState("connecting", "Connecting media…");
      await pc.setRemoteDescription({ type: "answer", sdp: body.sdp });
      onConnectionState();
      s.events = new EventSource(base + "/participants/" + encodeURIComponent(s.participantId) + "/events");
      s.events.addEventListener("roster", (e) => showRoster(JSON.parse(e.data)));
      s.events.addEventListener("sharing", (e) => showSharer(JSON.parse(e.data).sharer));
      s.events.addEventListener("ended", (e) => finish("left", "Left the meeting: " + JSON.parse(e.data).reason));
      $("join-button").disabled = true;
      $("leave-button").disabled = false;
      $("share-button").disabled = false;
    } catch (e) {
      s.error = String((e && e.message) || e);
      finish("failed", "Could not join: " + s.error);
    }
  }

  // Someone else's share in the content tile; this page's own share stops when another participant takes over.
  function showSharer(sharer) {
    s.sharer = sharer;
    const entry = s.roster.find((e) => e.participantId === sharer);
    const others = sharer !== null && sharer !== s.participantId;
    $("content-tile").hidden = !others;
    $("content-label").textContent = others ? (entry ? entry.displayName : "Someone") + " is sharing" : "";
    if (others) $("content").play().catch(() => {});
    if (s.share && others) stopSharing();
  }

  async function shareScreen() {
    if (s.state !== "connected" && s.state !== "connecting") throw new Error("join the meeting first");
    if (!s.share) {
      s.share = await navigator.mediaDevices.getDisplayMedia({ video: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { max: 15 } }, audio: false });
      const track = s.share.getVideoTracks()[0];
      // Slides: keep the resolution and give up frame rate when bandwidth is short.
      track.contentHint = "detail";
      track.addEventListener("ended", () => stopSharing());
      await s.content.sender.replaceTrack(track);
      const parameters = s.content.sender.getParameters();
      parameters.degradationPreference = "maintain-resolution";
      await s.content.sender.setParameters(parameters).catch(() => {});
    }
    $("share-button").textContent = "Stop sharing";
    const response = await fetch(base + "/participants/" + encodeURIComponent(s.participantId) + "/screen-share", { method: "PUT" });
    if (response.status !== 204) throw new Error("the meeting refused the share: HTTP " + response.status);
    const settings = s.share.getVideoTracks()[0].getSettings();
    return { width: settings.width, height: settings.height };
  }

  async function stopSharing() {
    const share = s.share;
    s.share = null;
    $("share-button").textContent = "Share screen";
    if (!share) return;
    for (const track of share.getTracks()) track.stop();
    if (s.content) await s.content.sender.replaceTrack(null).catch(() => {});
    if (s.participantId && ["connecting", "connected"].includes(s.state))
      await fetch(base + "/participants/" + encodeURIComponent(s.participantId) + "/screen-share", { method: "DELETE" }).catch(() => {});
  }

  async function contentStats() {
    const empty = { sharer: s.sharer, framesDecoded: 0, keyFramesDecoded: 0, frameWidth: 0, frameHeight: 0, pliCount: 0, firCount: 0, packets: 0 };
    if (!s.pc || !s.content) return empty;
    const report = await s.pc.getStats();
    let v = null;
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.mid === s.content.mid) v = r;
    });
    if (!v) return empty;
    return {
      sharer: s.sharer,
      framesDecoded: v.framesDecoded || 0,
      keyFramesDecoded: v.keyFramesDecoded || 0,
      frameWidth: v.frameWidth || 0,
      frameHeight: v.frameHeight || 0,
      pliCount: v.pliCount || 0,
      firCount: v.firCount || 0,
      packets: v.packetsReceived || 0,
    };
  }

  function finish(state, text) {
    if (s.events) s.events.close();
    s.events = null;
    if (s.share) for (const track of s.share.getTracks()) track.stop();
    s.share = null;
    s.sharer = null;
    $("content-tile").hidden = true;
    $("share-button").disabled = true;
    $("share-button").textContent = "Share screen";
    if (s.pc) s.pc.close();
    if (s.local) for (const track of s.local.getTracks()) track.stop();
    for (const slot of s.slots) slot.tile.hidden = true;
    $("join-button").disabled = false;
    $("leave-button").disabled = true;
    setState(state, text);
  }

  async function leave(reason) {
    const id = s.participantId;
    if (id && ["connecting", "connected"].includes(s.state)) {
      await fetch(base + "/participants/" + encodeURIComponent(id), { method: "DELETE", keepalive: true }).catch(() => {});
    }
    finish("left", "Left the meeting" + (typeof reason === "string" ? ": " + reason : ""));
  }

  async function stats() {
    if (!s.pc) return [];
    const report = await s.pc.getStats();
    const byMid = new Map();
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.mid !== undefined) byMid.set(r.mid, r);
    });
    return s.roster
      .filter((e) => e.slot !== null && s.slots[e.slot])
      .map((e) => {
        const slot = s.slots[e.slot];
        const v = byMid.get(slot.video.mid) || {};
        const a = byMid.get(slot.audio.mid) || {};
        return {
          participantId: e.participantId,
          displayName: e.displayName,
          slot: e.slot,
          framesDecoded: v.framesDecoded || 0,
          keyFramesDecoded: v.keyFramesDecoded || 0,
          frameWidth: v.frameWidth || 0,
          frameHeight: v.frameHeight || 0,
          pliCount: v.pliCount || 0,
          firCount: v.firCount || 0,
          videoPackets: v.packetsReceived || 0,
          audioPackets: a.packetsReceived || 0,
          audioEnergy: a.totalAudioEnergy || 0,
        };
      });
  }

  // The addresses media flows between: the selected ICE candidate pair, this page's end and the SFU's.
  async function route() {
    if (!s.pc) return null;
    const report = await s.pc.getStats();
    let pair = null;
    report.forEach((r) => {
      if (r.type === "transport" && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId);
    });
    if (!pair) return null;
    const end = (id) => {
      const c = report.get(id) || {};
      return { address: c.address || c.ip || "", port: c.port || 0, protocol: c.protocol || "", candidateType: c.candidateType || "" };
    };
    return { local: end(pair.localCandidateId), remote: end(pair.remoteCandidateId), offered: (s.pc.localDescription.sdp.match(/^a=candidate:.*$/gm) || []).map((l) => l.split(" ")[4]) };
  }

  // Records what one participant's slot plays for ms and finds its strongest tone (Goertzel, 100–2000 Hz in 5 Hz steps).
  async function audioSpectrum(participantId, ms) {
    const slot = s.slots.find((x) => x.participantId === participantId);
    if (!slot) throw new Error("no slot receives " + participantId);
    const ctx = s.audioContext || (s.audioContext = new AudioContext());
    await ctx.resume();
    const source = ctx.createMediaStreamSource(new MediaStream([slot.audio.receiver.track]));
    const processor = ctx.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    processor.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(processor);
    processor.connect(ctx.destination);
    await new Promise((resolve) => setTimeout(resolve, ms));
    source.disconnect();
    processor.disconnect();
    const length = chunks.reduce((n, c) => n + c.length, 0);
    const samples = new Float32Array(length);
    let offset = 0;
    for (const c of chunks) {
      samples.set(c, offset);
      offset += c.length;
    }
    let sum = 0;
    for (let i = 0; i < length; i++) sum += samples[i] * samples[i];
    const rms = length ? Math.sqrt(sum / length) : 0;
    let peakHz = 0;
    let peakPower = 0;
    for (let hz = 100; hz <= 2000; hz += 5) {
      const coefficient = 2 * Math.cos((2 * Math.PI * hz) / ctx.sampleRate);
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < length; i++) {
        const s0 = samples[i] + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
      if (power > peakPower) {
        peakPower = power;
        peakHz = hz;
      }
    }
    return { rms, peakHz, sampleRate: ctx.sampleRate, samples: length };
  }

  window.meeting = {
    get participantId() {
      return s.participantId;
    },
    get state() {
      return s.state;
    },
    get error() {
      return s.error;
    },
    get roster() {
      return s.roster;
    },
    get sharer() {
      return s.sharer;
    },
    /** This page's own share ({width, height} of the captured screen), or null. */
    get sharing() {
      if (!s.share) return null;
      const settings = s.share.getVideoTracks()[0].getSettings();
      return { width: settings.width, height: settings.height };
    },
    join,
    leave,
    stats,
    contentStats,
    shareScreen,
    stopSharing,
    route,
    audioSpectrum,
  };

  $("join-button").addEventListener("click", () => join($("name").value));
  $("leave-button").addEventListener("click", () => leave());
  $("share-button").addEventListener("click", () => {
    const action = s.share ? stopSharing() : shareScreen();
    action.catch((e) => {
      s.error = String((e && e.message) || e);
      $("status").textContent = "Screen share failed: " + s.error;
    });
  });
  $("name").addEventListener("keydown", (e) => {
    if (e.key === "Enter") join($("name").value);
  });
  window.addEventListener("pagehide", () => {
    if (s.participantId && ["connecting", "connected"].includes(s.state))
      fetch(base + "/participants/" + encodeURIComponent(s.participantId), { method: "DELETE", keepalive: true }).catch(() => {});
  });
  const params = new URLSearchParams(location.search);
  if (params.get("name")) $("name").value = params.get("name");
  if (params.get("autojoin") === "1") join($("name").value);
})();
`;
