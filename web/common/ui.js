/* ui.js — what every ihos screen shares: building DOM from text only, the
 * API call (cookie session + CSRF token, the error envelope shown where it
 * arose), login with second factor, first-login password change and TOTP
 * enrolment, the idle countdown, logout, and live updates (Server-Sent
 * Events).  Every string from the server goes into the page as text
 * (textContent), never as HTML. */
'use strict';

const IH = (() => {
  const S = { me: null, csrf: sessionStorage.getItem('ihos.csrf'), idleSecs: 900, idleEnd: 0,
              tick: null, es: null, refresh: null, missed: [], onLogout: null, warned: false };

  /* ---- DOM ---- */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function time(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const p = n => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }
  function mmss(s) {
    s = Math.max(0, Math.floor(s));
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  }

  /* ---- API ---- */
  class ApiError extends Error {
    constructor(status, code, message, field) { super(message); this.status = status; this.code = code; this.field = field; }
  }
  const EXPIRED = new Set(['session_expired', 'unauthenticated']);
  async function api(method, path, body, opts) {
    opts = opts || {};
    const headers = { 'Accept': 'application/json' };
    if (body !== undefined && body !== null) headers['Content-Type'] = opts.type || 'application/json';
    if (method !== 'GET' && S.csrf) headers['X-CSRF-Token'] = S.csrf;
    let r;
    try {
      r = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined || body === null ? undefined : (opts.type ? body : JSON.stringify(body)) });
    } catch (e) {
      throw new ApiError(0, 'network', '无法连接服务器，请检查网络后重试。');
    }
    if (S.me && !opts.passive) idleReset();
    if (r.status === 204) return null;
    if (opts.raw && r.ok) return r; /* the caller reads the body and headers itself */
    let j = null;
    const ct = r.headers.get('Content-Type') || '';
    if (ct.startsWith('application/json')) j = await r.json();
    else if (r.ok) return await r.text();
    if (r.ok) return j;
    const e = (j && j.error) || {};
    const err = new ApiError(r.status, e.code || 'error', e.message || `请求失败（HTTP ${r.status}）`, e.field);
    if (S.me && r.status === 401 && EXPIRED.has(err.code) && !opts.login) ended('会话已结束（超时或在别处退出），请重新登录。');
    throw err;
  }

  /* A long operation (the journal's verification): while it runs the server
   * answers 202 with where to ask again; ask there until the result comes. */
  async function longOp(method, path, body, onWait) {
    let r = await api(method, path + '?wait=20', body);
    while (r && r.operation && r.operation.state === 'running') {
      if (onWait) onWait(r.operation);
      r = await api('GET', r.operation.href + '?wait=20');
    }
    return r;
  }

  /* What each error code means, in the console's language; the server's
   * own message follows it word for word. */
  const ZH = {
    bad_request: '请求有误', malformed_json: '请求有误', invalid_field: '填写有误', authentication_failed: '登录失败',
    unauthenticated: '未登录或会话已结束', forbidden: '无权进行此操作', csrf_failed: '安全校验失败，请刷新页面',
    not_found: '未找到', conflict: '与现有数据冲突', invalid_state: '当前状态不允许此操作', payload_too_large: '内容过大',
    unsupported_media_type: '文件格式不符', rate_limited: '操作过于频繁，请稍后再试', busy: '服务器繁忙，请稍后再试',
    unavailable: '服务暂不可用', timeout: '处理超时', integrity_error: '数据完整性校验失败，已告警', weak_password: '密码强度不足',
    password_change_required: '请先修改密码', session_expired: '会话已超时', already_exists: '已存在', upstream_error: '外部服务出错',
    network: '网络错误', mismatch: '填写有误', consent: '请确认同意', no_file: '请选择文件', client: '页面出错',
  };
  const LOGIN_HINT = '多次登录失败后账号会被临时锁定；如已锁定，请稍后再试或联系安全管理员解锁。';

  /* An error shown in the form (or box) that caused it: the envelope's
   * message, and the field it names highlighted. */
  function showError(box, err) {
    const slot = box.querySelector(':scope > .err') || box.appendChild(h('p', { class: 'err', role: 'alert' }));
    slot.textContent = err ? `${ZH[err.code] || '出错了'}：${err.message}` + (err.field ? `（字段：${err.field}）` : '') +
      (err.code === 'authentication_failed' ? ' ' + LOGIN_HINT : '') : '';
    slot.hidden = !err;
    for (const el of box.querySelectorAll('.bad')) el.classList.remove('bad');
    if (err && err.field) {
      const f = box.querySelector(`[name="${CSS.escape(err.field)}"]`);
      if (f) { f.classList.add('bad'); f.focus(); }
    }
  }
  function flash(box, text) {
    const slot = box.querySelector(':scope > .ok') || box.appendChild(h('p', { class: 'ok', role: 'status' }));
    slot.textContent = text;
  }
  /* Run an action from a button or form: errors land in box, nothing fails silently. */
  async function act(box, fn, done) {
    showError(box, null);
    const btns = box.querySelectorAll('button');
    btns.forEach(b => b.disabled = true);
    try {
      const r = await fn();
      if (done) await done(r);
      return r;
    } catch (e) {
      if (!(e instanceof ApiError)) console.error(e);
      showError(box, e instanceof ApiError ? e : new ApiError(0, 'client', '页面出错：' + e.message));
      return undefined;
    } finally {
      btns.forEach(b => b.disabled = false);
    }
  }

  /* A form from a field list: [{name, label, type, options:[[value,label]], required, value}] */
  function form(fields, submitLabel, onSubmit, opts) {
    opts = opts || {};
    const f = h('form', { class: 'form' + (opts.inline ? ' inline' : ''), novalidate: true });
    for (const d of fields) {
      let input;
      if (d.type === 'select') {
        input = h('select', { name: d.name, id: 'f-' + d.name }, (d.options || []).map(([v, l]) =>
          h('option', { value: v, selected: String(d.value) === String(v) }, l)));
      } else if (d.type === 'textarea') {
        input = h('textarea', { name: d.name, id: 'f-' + d.name, rows: d.rows || 3, placeholder: d.placeholder });
        if (d.value) input.value = d.value;
      } else if (d.type === 'checkbox') {
        input = h('input', { type: 'checkbox', name: d.name, id: 'f-' + d.name, checked: !!d.value });
      } else {
        input = h('input', { type: d.type || 'text', name: d.name, id: 'f-' + d.name, placeholder: d.placeholder,
                             autocomplete: d.autocomplete || 'off', inputmode: d.inputmode, value: d.value });
      }
      f.appendChild(h('label', { for: 'f-' + d.name, class: d.type === 'checkbox' ? 'check' : null },
        h('span', {}, d.label), input));
    }
    f.appendChild(h('button', { type: 'submit', class: 'primary' }, submitLabel));
    f.addEventListener('submit', ev => {
      ev.preventDefault();
      const v = {};
      for (const d of fields) {
        const el = f.elements[d.name];
        if (d.type === 'checkbox') v[d.name] = el.checked;
        else if (d.type === 'number') { if (el.value !== '') v[d.name] = Number(el.value); }
        else if (el.value !== '' || d.keepEmpty) v[d.name] = el.value;
      }
      act(f, () => onSubmit(v, f));
    });
    return f;
  }

  /* What form f holds, for drawing it again: val(name, default) gives the value
   * entered (a checkbox's state), or the default where f is null or lacks it. */
  function kept(f) {
    const k = {};
    if (f) for (const el of f.elements) if (el.name) k[el.name] = el.type === 'checkbox' ? el.checked : el.value;
    return (name, def) => name in k ? k[name] : def;
  }

  /* A list a page at a time in out: get(cursor) asks for one (cursor null:
   * the first), draw(r) makes what shows it; 下一页 while the answer's
   * next_after (next_before, newest first) says more follow.  Errors show in
   * box.  Returns the first page's answer (undefined on error). */
  function pages(box, out, get, draw) {
    const page = cursor => act(box, async () => {
      const r = await get(cursor);
      const next = r.next_after ?? r.next_before;
      clear(out);
      out.appendChild(draw(r));
      if (next != null) out.appendChild(btn('下一页', () => page(next)));
      return r;
    });
    return page(null);
  }

  /* A table: cols [[label, row => text|Node]] */
  function table(rows, cols, empty) {
    if (!rows || !rows.length) return h('p', { class: 'empty' }, empty || '暂无数据');
    return h('table', {},
      h('thead', {}, h('tr', {}, cols.map(c => h('th', {}, c[0])))),
      h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => {
        const v = c[1](r);
        return h('td', {}, v === null || v === undefined ? '—' : v);
      })))));
  }
  function btn(label, onclick, cls) { return h('button', { type: 'button', class: cls || null, onclick }, label); }

  /* ---- session: idle countdown, live updates, logout ---- */
  function idleReset() { S.idleEnd = Date.now() + S.idleSecs * 1000; S.warned = false; }
  function startSession(me) {
    S.me = me;
    S.csrf = me.csrf_token;
    sessionStorage.setItem('ihos.csrf', S.csrf);
    S.idleSecs = me.idle_seconds || 900;
    idleReset();
    clearInterval(S.tick);
    S.tick = setInterval(() => {
      const left = (S.idleEnd - Date.now()) / 1000;
      const el = document.getElementById('idle');
      if (el) {
        el.textContent = `${mmss(left)} 后无操作将自动退出`;
        el.classList.toggle('warn', left <= 60);
      }
      if (left <= 0) logout('因超过 ' + Math.round(S.idleSecs / 60) + ' 分钟未操作，已自动退出，请重新登录。');
    }, 1000);
    openEvents();
  }
  /* Live updates.  What is published while the stream is down (the browser
   * reconnects after 3 s; the server ends a stream after [web]
   * stream_seconds) never arrives, so every open after the first hands the
   * screen a 'resync': it redraws what it shows. */
  function openEvents() {
    let first = !S.es; /* the session's first stream */
    if (S.es) S.es.close();
    const es = new EventSource('/api/v1/events');
    S.es = es;
    const deliver = (t, d) => {
      if (S.refresh) S.refresh(t, d);
      else if (S.missed.length < 50) S.missed.push([t, d]); /* a screen is being drawn */
    };
    const on = ev => deliver(ev.type, JSON.parse(ev.data));
    for (const t of ['visit', 'message', 'rx', 'account', 'call']) es.addEventListener(t, on);
    es.addEventListener('open', () => {
      document.body.classList.add('live');
      if (!first) deliver('resync', {});
      first = false;
    });
    es.addEventListener('error', async () => {
      document.body.classList.remove('live');
      if (es.readyState === EventSource.CLOSED && S.es === es && S.me) {
        /* refused: the session may have ended; /me says (passively) */
        try { await api('GET', '/api/v1/me', null, { passive: true }); setTimeout(() => S.me && S.es === es && openEvents(), 5000); } catch (e) { /* api() handled an ended session */ }
      }
    });
  }
  function stop() {
    clearInterval(S.tick);
    if (S.es) S.es.close();
    S.es = null;
    S.me = null;
    S.csrf = null;
    sessionStorage.removeItem('ihos.csrf');
  }
  async function logout(why) {
    if (!S.me) return;
    try { await api('DELETE', '/api/v1/sessions/current', null, { passive: true }); } catch (e) { /* already ended */ }
    stop();
    if (S.onLogout) S.onLogout(why || '已退出登录。');
  }
  function ended(why) { stop(); if (S.onLogout) S.onLogout(why); }

  /* ---- login, first-login steps ---- */
  function drawQr(rows) {
    const n = rows.length, cell = 5, quiet = 4, size = (n + 2 * quiet) * cell;
    const c = h('canvas', { width: size, height: size, class: 'qr', 'aria-label': '二维码' });
    const g = c.getContext('2d');
    g.fillStyle = '#fff'; g.fillRect(0, 0, size, size); g.fillStyle = '#000';
    rows.forEach((row, y) => { for (let x = 0; x < n; x++) if (row[x] === '1') g.fillRect((x + quiet) * cell, (y + quiet) * cell, cell, cell); });
    return c;
  }

  /* Renders the login into root; calls ready(me) once a full session exists. */
  function login(root, opts) {
    clear(root);
    const box = h('section', { class: 'card login' },
      h('h1', {}, opts.title),
      opts.notice ? h('p', { class: 'notice', role: 'status' }, opts.notice) : null);
    const fields = [
      { name: 'username', label: '用户名', autocomplete: 'username' },
      { name: 'password', label: '密码', type: 'password', autocomplete: 'current-password' },
      { name: 'totp', label: opts.patient ? '动态验证码（如已绑定）' : '动态验证码（6位）', inputmode: 'numeric', autocomplete: 'one-time-code' },
    ];
    box.appendChild(form(fields, '登录', async v => {
      const r = await api('POST', '/api/v1/sessions', v, { login: true });
      S.csrf = r.csrf_token;
      sessionStorage.setItem('ihos.csrf', S.csrf);
      await firstSteps(root, opts, v.password, r);
    }));
    if (opts.extra) box.appendChild(opts.extra);
    root.appendChild(box);
    box.querySelector('input').focus();
  }

  async function firstSteps(root, opts, password, r) {
    if (r.must_change_password) {
      clear(root);
      const box = h('section', { class: 'card login' }, h('h1', {}, '首次登录：请修改密码'),
        h('p', {}, '初始密码只能使用一次。新密码至少 12 位，含大小写字母、数字和符号中的三类。'));
      box.appendChild(form([
        { name: 'new_password', label: '新密码', type: 'password', autocomplete: 'new-password' },
        { name: 'again', label: '再次输入新密码', type: 'password', autocomplete: 'new-password' },
      ], '修改密码', async v => {
        if (v.new_password !== v.again) throw new ApiError(0, 'mismatch', '两次输入的新密码不一致。', 'again');
        await api('POST', '/api/v1/me/password', { old_password: password, new_password: v.new_password });
        await firstSteps(root, opts, v.new_password, Object.assign({}, r, { must_change_password: false }));
      }));
      root.appendChild(box);
      return;
    }
    if (r.must_enrol_totp) {
      clear(root);
      const t = await api('POST', '/api/v1/me/totp', { password });
      const secret = (/secret=([A-Z2-7]+)/.exec(t.otpauth_uri) || [])[1] || '';
      const box = h('section', { class: 'card login' }, h('h1', {}, '绑定动态验证码'),
        h('p', {}, '用身份验证器（如手机上的验证器应用）扫描二维码，或手工输入密钥，然后输入它显示的 6 位验证码。'),
        t.qr ? drawQr(t.qr) : null,
        h('p', { class: 'secret' }, '密钥：', h('code', { id: 'totp-secret' }, secret)));
      box.appendChild(form([{ name: 'code', label: '6位验证码', inputmode: 'numeric', autocomplete: 'one-time-code' }],
        '完成绑定', async v => {
          await api('POST', '/api/v1/me/totp/confirm', { code: v.code });
          await enter(root, opts);
        }));
      root.appendChild(box);
      return;
    }
    await enter(root, opts);
  }

  async function enter(root, opts) {
    const me = await api('GET', '/api/v1/me');
    startSession(me);
    opts.ready(me);
  }

  /* On page load: an existing session (cookie) continues, else the login. */
  async function boot(root, opts) {
    S.onLogout = why => login(root, Object.assign({}, opts, { notice: why }));
    try {
      const me = await api('GET', '/api/v1/me', null, { login: true });
      if (me.restricted) throw new Error('restricted');
      startSession(me);
      opts.ready(me);
    } catch (e) {
      login(root, opts);
    }
  }

  /* The screen's handler of live events.  null while a screen draws: what
   * arrives meanwhile is kept and handed to the next handler set. */
  function setRefresh(view, fn) {
    if (fn === undefined) { fn = view; view = null; }
    if (view && !view.isConnected) return; /* a screen already replaced */
    S.refresh = fn;
    if (!fn) return;
    const missed = S.missed;
    S.missed = [];
    for (const [t, d] of missed) fn(t, d);
  }
  function me() { return S.me; }

  return { h, clear, time, mmss, api, longOp, ApiError, showError, flash, act, form, kept, pages, table, btn, boot, logout, setRefresh, me };
})();
