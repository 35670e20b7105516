/* av.js — a visit's or a remote consultation's video call in the browser
 * (IHAV.mount), on either of the
 * hospital's two systems (remote/av.h on the server):
 *   A  Janus's videoroom over its HTTP API: this page publishes its camera
 *      and microphone and subscribes to the other participant's feed, with
 *      the token, room and PIN ihosd handed out;
 *   B  WebRTC straight to the other browser, offers and answers passed
 *      through ihosd (/api/v1/calls/{id}/signals), media relayed by coturn.
 * When Janus stops answering the page asks ihosd to move the call to B
 * (/fallback) and carries on there.  The card shows the line, the state and
 * what is received and sent (also as data-* attributes). */
'use strict';
const IHAV = (() => {
  const { h, clear, time, api, act, btn, flash } = IH;
  const SYS = { janus: '线路A（Janus）', p2p: '线路B（点对点中继）' };
  const STATE = { inviting: '等待患者同意', open: '可加入', ended: '已结束', declined: '患者已拒绝' };

  function gathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise(res => {
      const done = () => { if (pc.iceGatheringState === 'complete') { pc.removeEventListener('icegatheringstatechange', done); res(); } };
      pc.addEventListener('icegatheringstatechange', done);
      setTimeout(res, 5000); /* what has been gathered by then */
    });
  }

  /* ---- system A: Janus ---- */
  class Janus {
    constructor(g, media, onFail) {
      this.g = g.janus; this.ice = g.ice_servers || []; this.media = media; this.onFail = onFail;
      this.tx = 0; this.waiting = new Map(); this.subs = new Map(); this.stopped = false; this.pcs = [];
    }
    async post(path, body) {
      body.transaction = 'ih' + (++this.tx);
      body.token = this.g.token;
      const r = await fetch(this.g.url + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const j = await r.json();
      if (j.janus === 'error') throw new Error('Janus: ' + j.error.code + ' ' + j.error.reason);
      return j;
    }
    /* a plugin request whose answer comes as an event with its transaction */
    async request(handle, body, jsep) {
      const msg = { janus: 'message', body };
      if (jsep) msg.jsep = jsep;
      const p = new Promise((res, rej) => { this.waiting.set('ih' + (this.tx + 1), { res, rej }); setTimeout(() => rej(new Error('Janus did not answer')), 15000); });
      const r = await this.post(`/${this.sid}/${handle}`, msg);
      if (r.janus === 'success') { this.waiting.delete(r.transaction); return r; }
      return p;
    }
    async start() {
      this.sid = (await this.post('', { janus: 'create' })).data.id;
      this.poll();
      this.keep = setInterval(() => this.post(`/${this.sid}`, { janus: 'keepalive' }).catch(() => {}), 25000);
      this.pub = (await this.post(`/${this.sid}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
      const j = await this.request(this.pub, { request: 'join', ptype: 'publisher', room: this.g.room, pin: this.g.pin,
                                               token: this.g.room_token, display: this.media.role });
      const d = j.plugindata.data;
      if (d.videoroom !== 'joined') throw new Error('Janus: ' + (d.error || 'not joined'));
      this.myId = d.id; this.privateId = d.private_id;
      const pc = this.newPc();
      this.media.local.getTracks().forEach(t => pc.addTrack(t, this.media.local));
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const a = await this.request(this.pub, { request: 'publish', audio: true, video: true }, pc.localDescription);
      await pc.setRemoteDescription(a.jsep);
      this.pubPc = pc;
      this.feeds((d.publishers || []).concat(this.early || []));
      this.early = null;
      /* an announcement missed (a slow page, a lost poll) or a subscription
       * that failed or is still not connected after 20 s is caught up: every 3 s
       * the room's publishers are listed and any not received is subscribed (again) */
      this.reconcile = setInterval(() => {
        for (const [id, sub] of this.subs)
          if (Date.now() - sub.at > 20000 && !(sub.pc && sub.pc.connectionState === 'connected')) this.drop(id);
        this.post(`/${this.sid}/${this.pub}`, { janus: 'message', body: { request: 'listparticipants', room: this.g.room } })
          .then(r => this.feeds(((r.plugindata && r.plugindata.data.participants) || []).filter(x => x.publisher)))
          .catch(() => {});
      }, 3000);
    }
    /* onFailed: the publishing connection's failure ends the call here (the
     * page may move it to B); a subscription's is dropped and made again */
    newPc(onFailed) {
      const pc = new RTCPeerConnection({ iceServers: this.ice });
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'failed') { if (onFailed) onFailed(); else this.fail(); }
      });
      this.pcs.push(pc);
      return pc;
    }
    /* every other publisher in the room: one subscription each (an MDT has several) */
    feeds(list) {
      /* publishers announced before our own join was answered wait for our private id */
      if (!this.privateId) { this.early = (this.early || []).concat(list || []); return; }
      for (const p of list || []) if (p.id !== this.myId && !this.subs.has(p.id)) {
        const sub = { at: Date.now() };
        this.subs.set(p.id, sub);
        /* a feed not ready yet, an answer lost: dropped, and made again on the next round */
        this.subscribe(p.id, p.display, sub).catch(() => { if (this.subs.get(p.id) === sub) this.drop(p.id); });
      }
    }
    /* sub: this attempt's record; once it is no longer the feed's (dropped
     * meanwhile) the attempt stops and cleans up after itself */
    async subscribe(feed, display, sub) {
      const hid = (await this.post(`/${this.sid}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
      sub.handle = hid;
      if (this.subs.get(feed) !== sub) return this.detach(hid);
      const r = await this.request(hid, { request: 'join', ptype: 'subscriber', room: this.g.room, pin: this.g.pin, feed, private_id: this.privateId });
      if (this.subs.get(feed) !== sub) return this.detach(hid);
      if (!r.jsep) throw new Error('Janus: ' + (r.plugindata.data.error || 'no offer'));
      const pc = this.newPc(() => { if (this.subs.get(feed) === sub) this.drop(feed); });
      sub.pc = pc;
      pc.addEventListener('track', ev => { if (this.subs.get(feed) === sub) this.media.remote(feed, ev.streams[0] || new MediaStream([ev.track]), display); });
      await pc.setRemoteDescription(r.jsep);
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      await this.request(hid, { request: 'start', room: this.g.room }, pc.localDescription);
    }
    async poll() {
      let misses = 0;
      while (!this.stopped) {
        try {
          const r = await fetch(`${this.g.url}/${this.sid}?maxev=5&token=${encodeURIComponent(this.g.token)}`);
          const evs = [].concat(await r.json());
          misses = 0;
          for (const ev of evs) this.event(ev);
        } catch (e) {
          if (this.stopped) return;
          if (++misses >= 2) { this.fail(e); return; }
          await new Promise(res => setTimeout(res, 1000));
        }
      }
    }
    event(ev) {
      const w = ev.transaction && this.waiting.get(ev.transaction);
      if (w && ev.janus === 'event') { this.waiting.delete(ev.transaction); w.res(ev); return; }
      const d = ev.plugindata && ev.plugindata.data;
      if (!d) return;
      if (d.publishers) this.feeds(d.publishers);
      const gone = d.unpublished || d.leaving;
      if (gone && this.subs.has(gone)) this.drop(gone);
    }
    detach(handle) { this.post(`/${this.sid}/${handle}`, { janus: 'detach' }).catch(() => {}); }
    drop(feed) {
      const sub = this.subs.get(feed);
      this.subs.delete(feed);
      if (sub.pc) sub.pc.close();
      if (sub.handle) this.detach(sub.handle);
      this.media.remote(feed, null);
    }
    fail(e) { if (!this.stopped) { this.stop(); this.onFail(e); } }
    stats() { return [this.pubPc, ...[...this.subs.values()].map(x => x.pc)].filter(Boolean); }
    stop() {
      this.stopped = true;
      clearInterval(this.keep);
      clearInterval(this.reconcile);
      this.pcs.forEach(pc => pc.close());
      if (this.sid) this.post(`/${this.sid}`, { janus: 'destroy' }).catch(() => {});
    }
  }

  /* ---- system B: browser to browser through coturn ---- */
  class P2P {
    constructor(g, media, callId) {
      this.g = g; this.media = media; this.id = callId; this.last = 0; this.stopped = false; this.pc = null; this.ticks = 0;
      this.offerer = media.role === 'doctor'; /* the visit's doctor, or the consultation's requester */
    }
    newPc() {
      if (this.pc) this.pc.close();
      const pc = new RTCPeerConnection({ iceServers: this.g.ice_servers, iceTransportPolicy: this.g.relay_only ? 'relay' : 'all' });
      this.media.local.getTracks().forEach(t => pc.addTrack(t, this.media.local));
      pc.addEventListener('track', ev => this.media.remote('peer', ev.streams[0] || new MediaStream([ev.track])));
      this.pc = pc;
      return pc;
    }
    send(kind, data) { return api('POST', `/api/v1/calls/${this.id}/signals`, data ? { kind, data } : { kind }); }
    async offer() {
      this.offerAt = Date.now();
      const pc = this.newPc();
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (this.stopped) return pc.close();
      this.offerId = (await this.send('offer', pc.localDescription.sdp)).id;
    }
    async start() {
      const r = await api('GET', `/api/v1/calls/${this.id}/signals`);
      const sigs = r.signals;
      this.last = sigs.length ? sigs[sigs.length - 1].id : 0;
      if (this.offerer) await this.offer();
      else {
        await this.send('hello');
        const offers = sigs.filter(s => s.kind === 'offer');
        if (offers.length) await this.answer(offers[offers.length - 1]);
      }
      if (this.stopped) return; /* hung up meanwhile: no mailbox reads after the call */
      /* every read of the mailbox is journaled: ask each second only until
       * connected, then every 15 s (a live 'call' event asks at once).  An
       * offer that has not become a connection after 20 s (its relay
       * candidates gathered too late for it, an answer lost, ICE failed) is
       * made again: the other side answers every new offer. */
      this.timer = setInterval(() => {
        const up = this.pc && this.pc.connectionState === 'connected';
        if (this.offerer && !up && !this.busy && Date.now() - this.offerAt > 20000) {
          this.busy = true;
          this.offer().catch(() => {}).finally(() => { this.busy = false; });
        } else if (!up || ++this.ticks % 15 === 0) this.pull();
      }, 1000);
    }
    async answer(s) {
      const pc = this.newPc();
      await pc.setRemoteDescription({ type: 'offer', sdp: s.data });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      if (this.stopped) return pc.close();
      await this.send('answer', pc.localDescription.sdp);
    }
    async pull() {
      if (this.busy || this.stopped) return;
      this.busy = true;
      try {
        const r = await api('GET', `/api/v1/calls/${this.id}/signals?after=${this.last}`, null, { passive: true });
        for (const s of r.signals) {
          this.last = s.id;
          if (this.offerer && s.kind === 'hello') await this.offer();
          else if (this.offerer && s.kind === 'answer' && s.id > this.offerId && this.pc.signalingState === 'have-local-offer')
            await this.pc.setRemoteDescription({ type: 'answer', sdp: s.data });
          else if (!this.offerer && s.kind === 'offer') await this.answer(s);
          else if (s.kind === 'bye') this.media.remote('peer', null);
        }
      } catch (e) { /* the next pull tries again */ } finally { this.busy = false; }
    }
    stats() { return this.pc ? [this.pc] : []; }
    stop() {
      this.stopped = true;
      clearInterval(this.timer);
      if (this.pc) this.pc.close();
      this.send('bye').catch(() => {});
    }
  }

  /* What the line carries: bytes in and out by kind, and the local candidate's type. */
  async function measure(pcs) {
    const m = { inAudio: 0, inVideo: 0, out: 0, candidate: '' };
    for (const pc of pcs) {
      const st = await pc.getStats();
      const byId = new Map(); st.forEach(s => byId.set(s.id, s));
      st.forEach(s => {
        if (s.type === 'inbound-rtp') { if (s.kind === 'audio') m.inAudio += s.bytesReceived || 0; else m.inVideo += s.bytesReceived || 0; }
        if (s.type === 'outbound-rtp') m.out += s.bytesSent || 0;
        if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated) {
          const l = byId.get(s.localCandidateId);
          if (l) m.candidate = l.candidateType;
        }
      });
    }
    return m;
  }

  /* The call card in box.  o: {url: the visit's or consultation's call
   * (/api/v1/visits/ID/call, /api/v1/consults/ID/call), role: 'doctor' |
   * 'patient' | 'expert', host: whether this viewer opens and ends calls,
   * live: whether a new call may be opened now, label: what the call is
   * called}.  Returns refresh(): redraw on a live 'call' event (a call under
   * way stays). */
  function mount(box, o) {
    const role = o.role;
    let call = null, engine = null, local = null, tick = null;
    const status = h('p', { class: 'av-status', data: { state: 'idle' } }, '');
    const videos = h('div', { class: 'av-videos' });
    const controls = h('div', { class: 'row av-controls' });
    box.append(status, videos, controls);

    const kb = n => (n / 1024).toFixed(0) + ' KB';
    function setStatus(state, text) { status.dataset.state = state; status.textContent = text; }

    async function load() {
      const r = await act(box, () => api('GET', o.url));
      if (r) { call = r.call; draw(); }
    }
    function draw() {
      if (engine) return; /* a call under way is not redrawn */
      clear(controls);
      const c = call && !call.expired ? call : null;
      status.dataset.system = c ? c.system : '';
      recordings();
      if (!c || c.state === 'ended' || c.state === 'declined') {
        setStatus('idle', c ? STATE[c.state] : (call ? '上次通话已到时' : '尚无视频通话'));
        if (o.host && o.live)
          controls.appendChild(btn('发起' + o.label, () => act(box, () => api('POST', o.url), r => { call = r; draw(); }), 'primary'));
        return;
      }
      if (c.state === 'inviting') {
        setStatus('inviting', role === 'patient' ? '医生邀请您进行' + o.label : '已邀请患者，等待患者同意…');
        if (role === 'patient') {
          const yes = h('input', { type: 'checkbox', name: 'consent' }), rec = h('input', { type: 'checkbox', name: 'recording' });
          controls.append(h('label', {}, yes, '我同意进行' + o.label), h('label', {}, rec, '同意录制（可选）'),
            btn('同意并加入', () => {
              if (!yes.checked) return flash(box, '请先勾选同意' + o.label + '。');
              act(box, () => api('POST', `/api/v1/calls/${c.id}/consent`, { consent: true, recording: rec.checked }), r => { call = r; join(); });
            }, 'primary'),
            btn('拒绝', () => act(box, () => api('POST', `/api/v1/calls/${c.id}/consent`, { consent: false }), r => { call = r; draw(); })));
        }
      } else {
        setStatus('ready', `${SYS[c.system]} · ${STATE[c.state]}`);
        controls.appendChild(btn('加入视频', () => join(), 'primary'));
      }
      if (o.host) controls.appendChild(btn('结束通话', () => end()));
    }

    /* the last call's recordings (shown to the treating doctor only: the
     * server lists them only for them), played through ihosd */
    function recordings() {
      const old = box.querySelector('.av-recordings'); if (old) old.remove();
      const list = (call && call.recordings) || [];
      const note = call && call.recording === 'pending' ? '录制内容在通话结束后加密保存…' : null;
      if (!list.length && !note) return;
      box.appendChild(h('div', { class: 'av-recordings' }, h('h3', {}, '通话录制（患者已同意）'), note ? h('p', {}, note) : null,
        list.map(r => h('div', {}, h(r.kind === 'video' ? 'video' : 'audio', { controls: true, preload: 'none', src: `/api/v1/recordings/${r.id}` }),
          h('span', {}, ` ${r.kind === 'video' ? '视频' : '音频'} · ${(r.bytes / 1024).toFixed(0)} KB · ${time(r.created_at)}`)))));
    }
    /* one tile per other participant (key: Janus's feed, or 'peer' on B) */
    function remote(key, stream, display) {
      let el = videos.querySelector(`video.remote[data-feed="${key}"]`);
      if (!stream) { if (el && videos.querySelectorAll('video.remote').length > 1) el.remove(); else if (el) el.srcObject = null; return; }
      if (!el) {
        el = videos.querySelector('video.remote:not([data-feed])') ||
          videos.insertBefore(h('video', { class: 'remote', autoplay: true, playsinline: true }), videos.querySelector('video.local'));
        el.dataset.feed = key;
        if (display) el.title = display === 'expert' ? '会诊专家' : display === 'doctor' ? '医生' : '患者';
      }
      el.srcObject = stream;
      videos.classList.toggle('many', videos.querySelectorAll('video.remote').length > 1);
    }
    /* one join at a time: a second click while the camera or ihosd is still
     * answering does nothing (two would start two engines) */
    let joining = false;
    async function join(path) {
      if (joining) return;
      joining = true;
      try { await enter(path); } finally { joining = false; }
    }
    async function enter(path) {
      try {
        if (!local) local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
      } catch (e) { flash(box, '无法使用摄像头或麦克风：' + e.message); return; }
      const g = await act(box, () => api('POST', `/api/v1/calls/${call.id}/${path || 'join'}`));
      if (!g) return;
      clear(videos);
      const me = h('video', { class: 'local', autoplay: true, playsinline: true });
      me.muted = true; me.srcObject = local;
      videos.append(h('video', { class: 'remote', autoplay: true, playsinline: true }), me);
      clear(controls);
      const note = box.querySelector(':scope > .ok');
      if (note) note.remove();
      controls.appendChild(btn('挂断', () => hangup()));
      if (o.host) controls.appendChild(btn('结束通话', () => end(), 'danger'));
      status.dataset.system = g.system;
      setStatus('connecting', `${SYS[g.system]} · 正在连接…`);
      const media = { local, role, remote };
      const en = engine = g.system === 'janus' ? new Janus(g, media, () => fallback()) : new P2P(g, media, call.id);
      /* a start that fails after its engine was replaced or hung up touches nothing */
      en.start().catch(e => {
        if (engine !== en) return;
        if (g.system === 'janus') en.fail(e); else setStatus('failed', `${SYS[g.system]} · 连接失败：${e.message}`);
      });
      clearInterval(tick);
      tick = setInterval(async () => {
        if (!engine || !box.isConnected) { if (!box.isConnected) hangup(true); return; }
        const m = await measure(engine.stats()).catch(() => null);
        if (!m) return;
        Object.assign(status.dataset, { inAudio: m.inAudio, inVideo: m.inVideo, out: m.out, candidate: m.candidate });
        const up = m.inAudio + m.inVideo > 0;
        setStatus(up ? 'connected' : 'connecting', `${SYS[g.system]} · ${up ? '已连接' : '正在连接…'} · 收 ${kb(m.inAudio + m.inVideo)} · 发 ${kb(m.out)}${m.candidate === 'relay' ? ' · 中继' : ''}`);
      }, 1000);
    }
    async function fallback() {
      engine = null;
      setStatus('switching', '线路A中断，正在切换到线路B…');
      await join('fallback');
    }
    function stopEngine() {
      if (engine) engine.stop();
      engine = null;
      clearInterval(tick);
      if (local) local.getTracks().forEach(t => t.stop());
      local = null;
      clear(videos);
    }
    async function hangup(quiet) {
      const id = call && call.id;
      stopEngine();
      if (id && !quiet) { await api('POST', `/api/v1/calls/${id}/leave`).catch(() => {}); await load(); }
    }
    async function end() {
      const id = call.id;
      stopEngine();
      await act(box, () => api('POST', `/api/v1/calls/${id}/end`), r => { call = r; draw(); });
    }
    load();
    return async () => {
      if (!engine) return load();
      /* under way: a move to B decided elsewhere moves this page too */
      const r = await api('GET', o.url, null, { passive: true }).catch(() => null);
      if (!r || !r.call) return;
      if (r.call.state !== 'open') { call = r.call; stopEngine(); draw(); }
      else if (engine instanceof Janus && r.call.system === 'p2p') { engine.stop(); call = r.call; fallback(); }
      else if (engine instanceof P2P) engine.pull();
    };
  }

  return { mount };
})();
