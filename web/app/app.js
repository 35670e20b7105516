/* app.js — the staff console (/app/): the doctor's workbench, the
 * pharmacist's review and dispensing, and the three administrators'
 * screens.  Each screen is a function drawing into the main area from the
 * API; live updates redraw the screen that shows what changed. */
'use strict';
(() => {
  const { h, clear, time, mmss, api, longOp, act, form, table, btn, flash, showError } = IH;
  const root = document.getElementById('root');
  const ROLE = { doctor: '医师', nurse: '护士', pharmacist: '药师', sysadmin: '系统管理员', secadmin: '安全管理员', auditadmin: '审计管理员' };
  const OUTCOME = { success: '成功', failure: '失败' };
  const STATUS = { requested: '待接诊', accepted: '诊疗中', closed: '已结束', refused: '已拒绝', cancelled: '已取消', expired: '已超时',
                   issued: '待审核', approved: '审核通过', rejected: '审核未通过', dispensed: '已发药', delivered: '已送达', cancelled_rx: '已作废' };
  const st = s => STATUS[s] || s;
  let main, nav, current = null, timers = [];

  function every(ms, fn) { timers.push(setInterval(fn, ms)); }
  function show(screen, arg) {
    timers.forEach(clearInterval); timers = [];
    current = { screen, arg };
    for (const a of nav.querySelectorAll('a')) a.classList.toggle('on', a.dataset.screen === screen.name);
    clear(main);
    IH.setRefresh(null);
    /* each drawing gets its own view: a slower, older one lands in a
     * detached node and never mixes with the screen now shown */
    const view = h('div', { class: 'view' });
    main.appendChild(view);
    screen(view, arg);
  }
  function section(title, ...kids) { return h('section', { class: 'card' }, h('h2', {}, title), ...kids); }
  /* A list's state filter: [value, label] pairs, cur chosen; choosing
   * another calls pick(value). */
  function stateFilter(id, pairs, cur, pick) {
    const sel = h('select', { id }, pairs.map(([v, l]) => h('option', { value: v, selected: v === cur }, l)));
    sel.addEventListener('change', () => pick(sel.value));
    return h('label', { class: 'check' }, h('span', {}, '状态'), sel);
  }

  /* ---- doctor ---- */
  async function queue(m) {
    const box = section('待接诊（按响应时限）');
    m.appendChild(box);
    const draw = async () => {
      const r = await act(box, () => api('GET', '/api/v1/visits?status=requested'));
      if (!r) return;
      const old = box.querySelector('table, .empty'); if (old) old.remove();
      box.appendChild(table(r.visits, [
        ['患者', v => v.patient_name], ['类型', v => v.kind_name], ['主诉', v => v.complaint],
        ['申请时间', v => time(v.requested_at)],
        ['响应剩余', v => h('span', { class: 'clock', data: { until: v.respond_by } }, '')],
        ['操作', v => h('div', { class: 'row' },
          btn('查看并接诊', () => show(visit, v.id), 'primary'))],
      ], '暂无待接诊的请求'));
      tickClocks(box);
    };
    every(1000, () => tickClocks(box));
    IH.setRefresh(m, t => { if (t === 'visit' || t === 'resync') draw(); });
    await draw();
    const box2 = section('诊疗中');
    m.appendChild(box2);
    /* the latest first: visits left open must not push a new one off the list */
    const r2 = await act(box2, () => api('GET', '/api/v1/visits?status=accepted&order=newest&limit=200'));
    if (r2) box2.appendChild(table(r2.visits, [['患者', v => v.patient_name], ['类型', v => v.kind_name],
      ['接诊时间', v => time(v.accepted_at)], ['', v => btn('打开', () => show(visit, v.id))]], '暂无'));
  }
  function tickClocks(box) {
    for (const el of box.querySelectorAll('.clock')) {
      const left = (new Date(el.dataset.until) - Date.now()) / 1000;
      /* minutes and seconds within the hour; a request for a later shift counts in hours */
      el.textContent = left <= 0 ? '已超时' : left < 3600 ? mmss(left)
        : `${Math.floor(left / 3600)} 小时 ${String(Math.floor(left % 3600 / 60)).padStart(2, '0')} 分`;
      el.classList.toggle('warn', left < 600);
    }
  }

  async function visit(m, id) {
    const head = section('就诊');
    m.appendChild(head);
    const v = await act(head, () => api('GET', `/api/v1/visits/${id}`));
    if (!v) return;
    const me = IH.me();
    const pat = me.role === 'doctor' ? await api('GET', `/api/v1/patients/${v.patient_id}`).catch(() => null) : null;
    head.querySelector('h2').textContent = `${v.kind_name} · ${(pat && pat.name) || v.patient_name || '患者 #' + v.patient_id} · ${st(v.status)}`;
    head.appendChild(h('dl', {},
      h('dt', {}, '主诉'), h('dd', {}, v.complaint),
      v.first_diagnosis ? [h('dt', {}, '首诊诊断（线下）'), h('dd', {}, v.first_diagnosis)] : null,
      v.disease_history ? [h('dt', {}, '病史'), h('dd', {}, v.disease_history)] : null,
      h('dt', {}, '申请时间'), h('dd', {}, time(v.requested_at))));
    if (me.role === 'doctor' && v.status === 'requested') {
      const f = form(v.kind === 'followup' ? [{ name: 'followup_confirmed', label: '已核对线下首诊凭证，确认为复诊', type: 'checkbox' }] : [],
        '接诊', async b => { await api('POST', `/api/v1/visits/${id}/accept`, b); show(visit, id); }, { inline: true });
      f.id = 'accept';
      const rf = form([{ name: 'reason', label: '拒绝理由' }], '拒绝', async b => {
        await api('POST', `/api/v1/visits/${id}/refuse`, b); show(queue); }, { inline: true });
      rf.id = 'refuse';
      head.append(f, rf);
    }
    if (pat) head.appendChild(h('p', { class: 'allergy' }, '过敏史：', pat.allergies || '无记录'));
    if (v.kind === 'followup') {
      const ev = await api('GET', `/api/v1/visits/${id}/evidence`).catch(() => null);
      const enc = ev && ev.encounter;
      head.appendChild(h('p', { class: enc ? 'ok' : 'warn', id: 'evidence' }, enc
        ? `医院 HIS 门诊记录（首诊依据）：${enc.encounter_at.replace('T', ' ')} ${enc.department || ''} ${enc.doctor || ''}，诊断：${enc.diagnoses.map(d => d.name || d.code).join('、') || '—'}（就诊号 ${enc.visit_no}）`
        : '未在医院 HIS 找到该患者的门诊记录：请核对患者提供的首诊凭证。'));
    }
    let pull = null, rxDraw = null, callDraw = null;
    if (v.status === 'accepted' || v.status === 'closed') {
      pull = chat(m, v);
      if (me.role === 'doctor' && v.status === 'accepted') {
        const c = section('视频问诊');
        c.id = 'call';
        m.appendChild(c);
        callDraw = IHAV.mount(c, { url: `/api/v1/visits/${v.id}/call`, role: 'doctor', host: true, live: true, label: '视频问诊' });
      }
      await records(m, v);
      if (me.role === 'doctor') await results(m, v.patient_id);
      if (me.role === 'doctor') await orders(m, v);
      if (me.role === 'doctor' && v.status === 'accepted') prescribe(m, v, pat);
      if (me.role === 'doctor') {
        const rc = section('远程会诊', h('p', {}, '邀请合作医院的专家会诊（需有效的合作协议和患者知情同意）。'),
          btn('申请远程会诊', () => show(CON.consultNew, v), 'primary'));
        rc.id = 'remote';
        m.appendChild(rc);
      }
      rxDraw = await visitRx(m, v);
      if (me.role === 'doctor' && v.status === 'accepted') {
        const c = section('结束就诊', btn('结束本次就诊', () => act(c, () => api('POST', `/api/v1/visits/${id}/close`), () => show(visit, id)), 'danger'));
        c.id = 'close';
        m.appendChild(c);
      }
    }
    IH.setRefresh(m, (t, d) => {
      if (t === 'resync') return show(visit, id);
      if (d.visit !== id) return;
      if (t === 'message' && pull) pull();
      else if (t === 'rx' && rxDraw) rxDraw();
      else if (t === 'call' && callDraw) callDraw();
      else if (t === 'visit') show(visit, id);
    });
  }

  function chat(m, v) {
    const log = h('ol', { class: 'chat', id: 'chat' });
    const box = section('图文问诊', log);
    m.appendChild(box);
    let last = 0;
    const add = msgs => {
      for (const x of msgs) {
        if (x.id <= last) continue;
        last = x.id;
        log.appendChild(h('li', { class: x.sender_role === 'patient' ? 'them' : 'me' },
          h('span', { class: 'who' }, x.sender_role === 'patient' ? '患者' : '医师', ' · ', time(x.created_at)),
          h('p', {}, x.body)));
      }
      log.scrollTop = log.scrollHeight;
    };
    add(v.messages || []);
    const pull = async () => {
      const r = await act(box, () => api('GET', `/api/v1/visits/${v.id}?after_message=${last}`));
      if (r) add(r.messages || []);
    };
    if (v.status === 'accepted') {
      const f = form([{ name: 'body', label: '消息', type: 'textarea', rows: 2 }], '发送', async b => {
        await api('POST', `/api/v1/visits/${v.id}/messages`, b);
        f.reset();
        await pull();
      }, { inline: true });
      f.id = 'send';
      box.appendChild(f);
    }
    return pull;
  }

  async function records(m, v) {
    const box = section('病历');
    box.id = 'records';
    m.appendChild(box);
    const r = await act(box, () => api('GET', `/api/v1/visits/${v.id}/records`));
    if (r) box.appendChild(table(r.records, [['版本', x => x.revision], ['诊断', x => (x.diagnosis_codes || []).map(c => `${c.code} ${c.name}`).join('；')],
      ['主诉', x => x.chief_complaint], ['处理意见', x => x.opinion], ['电子签名', x => x.signature ? `已签名（密钥 #${x.sign_key_id}）` : '未签名'],
      ['时间', x => time(x.created_at)]], '尚无病历'));
    if (IH.me().role !== 'doctor' || v.status !== 'accepted') return;
    const codes = icdPicker('record-icd');
    const f = form([
      { name: 'chief_complaint', label: '主诉' }, { name: 'present_history', label: '现病史', type: 'textarea' },
      { name: 'diagnosis', label: '诊断（文字）' }, { name: 'opinion', label: '处理意见', type: 'textarea' },
    ], '签名并保存病历', async b => {
      b.diagnosis_codes = codes.value();
      await api('POST', `/api/v1/visits/${v.id}/records`, b);
      show(visit, v.id);
    });
    f.id = 'record';
    f.insertBefore(codes.el, f.querySelector('button'));
    box.appendChild(f);
  }

  /* Lab and imaging results the hospital's LIS/RIS sent (HL7 ORU^R01). */
  async function results(m, patientId) {
    const box = section('检查检验结果（来自医院 LIS/RIS）');
    box.id = 'results';
    m.appendChild(box);
    const r = await act(box, () => api('GET', `/api/v1/patients/${patientId}/results`));
    if (r) box.appendChild(resultList(r.results));
  }
  /* Lab and imaging orders: they go to the hospital's LIS/RIS (HL7, through the outbox). */
  const ORDER_STATE = { placed: '已发送', imaged: '已检查', resulted: '已出结果', cancelled: '已撤销' };
  const MODALITIES = ['CT', 'MR', 'DX', 'CR', 'US', 'MG', 'NM', 'PT', 'XA', 'RF', 'ECG', 'SM'];
  async function orders(m, v) {
    const box = section('检验检查申请（发送至医院 LIS/RIS）');
    box.id = 'orders';
    m.appendChild(box);
    const r = await act(box, () => api('GET', `/api/v1/visits/${v.id}/orders`));
    /* a placed order can be withdrawn, with a reason (ORC CA to the LIS/RIS) */
    const cancel = x => x.status !== 'placed' ? (x.cancel_reason ? `已撤销：${x.cancel_reason}` : '') :
      form([{ name: 'reason', label: '撤销理由' }], '撤销申请', async b => {
        await api('POST', `/api/v1/orders/${x.id}/cancel`, { reason: b.reason });
        show(visit, v.id);
      }, { inline: true });
    if (r) box.appendChild(table(r.orders, [['申请单号', x => x.order_no], ['类别', x => x.kind === 'imaging' ? '检查' : '检验'],
      ['项目', x => `${x.code} ${x.name}`], ['设备类型', x => x.modality || ''], ['检查号', x => x.accession || ''],
      ['临床说明', x => x.note || ''], ['时间', x => time(x.created_at)], ['状态', x => ORDER_STATE[x.status] || x.status],
      ['影像', x => x.kind !== 'imaging' || x.status === 'cancelled' ? '' :
        x.study_uid ? btn('查看影像', () => show(study, x.id), 'primary') : '等待检查'],
      ['撤销', cancel]], '尚无申请'));
    if (v.status !== 'accepted') return;
    const f = form([
      { name: 'kind', label: '类别', type: 'select', options: [['lab', '检验'], ['imaging', '检查']] },
      { name: 'code', label: '项目编码（医院）' }, { name: 'name', label: '项目名称' },
      { name: 'modality', label: '设备类型（检查）', type: 'select', options: [['', '—']].concat(MODALITIES.map(x => [x, x])) },
      { name: 'note', label: '临床说明', type: 'textarea', rows: 2 },
    ], '提交申请', async b => {
      await api('POST', `/api/v1/visits/${v.id}/orders`, b);
      show(visit, v.id);
    });
    f.id = 'order';
    box.appendChild(f);
  }
  /* A study from the PACS, through ihosd (each request checked; the
   * opening audited): images rendered by the PACS, ECGs drawn from their
   * samples. */
  async function study(m, orderId) {
    const box = section('影像浏览（经 ihos 访问医院 PACS）');
    box.id = 'study';
    m.appendChild(box);
    const r = await act(box, () => api('GET', `/api/v1/orders/${orderId}/study`));
    if (r) studyView(box, r, `/api/v1/orders/${orderId}`);
  }
  /* The series of a study r into box; images and waveforms under base. */
  async function studyView(box, r, base) {
    for (const se of r.series) {
      const part = h('div', { class: 'series' }, h('h3', {}, `${se.modality} ${se.description || ''}（${se.instances.length} 幅）`));
      box.appendChild(part);
      if (se.modality === 'SM') { await slideView(part, base, se.uid); continue; }
      for (const i of se.instances.slice(0, 50)) {
        const q = `series=${encodeURIComponent(se.uid)}&instance=${encodeURIComponent(i.uid)}`;
        if (i.waveform) {
          const w = await act(part, () => api('GET', `${base}/waveform?${q}`));
          if (w) part.appendChild(ecgPlot(w));
        } else {
          part.appendChild(h('img', { class: 'dicom', src: `${base}/image?${q}`, alt: `第 ${i.number || '?'} 幅` }));
        }
      }
    }
  }
  /* A whole slide (pathology) from the PACS's pyramid, level by level (level 0
   * the finest): a window of at most 4 × 3 tiles at a time — never a whole
   * level, which at the finest of a real slide is tens of thousands of tiles —
   * moved half a window with 左移 / 右移 / 上移 / 下移; 放大 / 缩小 keep the
   * window's centre on the same spot of the slide. */
  const SLIDE_COLS = 4, SLIDE_ROWS = 3;
  async function slideView(part, base, series) {
    const q = `series=${encodeURIComponent(series)}`;
    const py = await act(part, () => api('GET', `${base}/pyramid?${q}`));
    if (!py) return;
    let level = py.levels.length - 1, cx = 0.5, cy = 0.5; /* the window's centre, as fractions of the slide */
    const grid = h('div', { class: 'slide' });
    const info = h('span', {});
    const draw = () => {
      const L = py.levels[level];
      const w = Math.min(SLIDE_COLS, L.tiles_x), ht = Math.min(SLIDE_ROWS, L.tiles_y);
      const x0 = Math.max(0, Math.min(L.tiles_x - w, Math.round(cx * L.tiles_x - w / 2)));
      const y0 = Math.max(0, Math.min(L.tiles_y - ht, Math.round(cy * L.tiles_y - ht / 2)));
      cx = (x0 + w / 2) / L.tiles_x;
      cy = (y0 + ht / 2) / L.tiles_y;
      clear(grid);
      grid.style.setProperty('--cols', w);
      for (let y = y0; y < y0 + ht; y++)
        for (let x = x0; x < x0 + w; x++)
          grid.appendChild(h('img', { class: 'tile', alt: '', src: `${base}/tile?${q}&level=${level}&x=${x}&y=${y}` }));
      info.textContent = ` 第 ${py.levels.length - level}/${py.levels.length} 级 · ${L.width}×${L.height} 像素 · ` +
        `第 ${x0 + 1}–${x0 + w} 列、${y0 + 1}–${y0 + ht} 行（共 ${L.tiles_x}×${L.tiles_y} 块）`;
      Object.assign(grid.dataset, { level, x0, y0 });
    };
    const pan = (dx, dy) => {
      const L = py.levels[level];
      cx += dx * Math.max(1, Math.floor(SLIDE_COLS / 2)) / L.tiles_x;
      cy += dy * Math.max(1, Math.floor(SLIDE_ROWS / 2)) / L.tiles_y;
      draw();
    };
    part.append(h('div', { class: 'row' },
      btn('放大', () => { if (level > 0) { level--; draw(); } }), btn('缩小', () => { if (level < py.levels.length - 1) { level++; draw(); } }),
      btn('左移', () => pan(-1, 0)), btn('右移', () => pan(1, 0)), btn('上移', () => pan(0, -1)), btn('下移', () => pan(0, 1)), info), grid);
    draw();
  }
  /* Twelve leads, one row each, on ECG paper: 25 mm/s, 10 mm/mV. */
  function ecgPlot(w) {
    const px = 4, rowH = 100, secs = Math.min(10, w.channels[0].samples.length / w.frequency);
    const width = Math.round(secs * 25 * px), height = rowH * w.channels.length;
    const c = h('canvas', { width, height, class: 'ecg', 'aria-label': '心电图' });
    const g = c.getContext('2d');
    g.fillStyle = '#fff'; g.fillRect(0, 0, width, height);
    g.strokeStyle = '#f4c2c2'; g.lineWidth = 1;
    for (let x = 0; x < width; x += 5 * px) { g.beginPath(); g.moveTo(x, 0); g.lineTo(x, height); g.stroke(); }
    for (let y = 0; y < height; y += 5 * px) { g.beginPath(); g.moveTo(0, y); g.lineTo(width, y); g.stroke(); }
    g.strokeStyle = '#111'; g.fillStyle = '#111'; g.font = '12px sans-serif';
    w.channels.forEach((ch, k) => {
      const base = rowH * k + rowH / 2, n = Math.min(ch.samples.length, Math.round(secs * w.frequency));
      g.fillText(ch.label, 4, rowH * k + 14);
      g.save();
      g.beginPath(); g.rect(0, rowH * k, width, rowH); g.clip(); /* a tall lead stays in its row */
      g.beginPath();
      for (let i = 0; i < n; i++) {
        const x = i / w.frequency * 25 * px, y = base - ch.samples[i] / 1000 * 10 * px;
        if (i) g.lineTo(x, y); else g.moveTo(x, y);
      }
      g.stroke();
      g.restore();
    });
    return c;
  }
  const FLAG = { H: '偏高', L: '偏低', N: '正常', A: '异常', HH: '危急偏高', LL: '危急偏低' };
  function resultList(list) {
    if (!list.length) return h('p', { class: 'empty' }, '暂无检查检验结果');
    return h('div', {}, list.map(x => h('div', { class: 'result' },
      h('h3', {}, `${x.title}（${x.kind === 'imaging' ? '检查' : '检验'}） · ${x.observed_at ? x.observed_at.replace('T', ' ') : time(x.received_at)}`),
      table(x.observations, [['项目', o => o.name || o.code], ['结果', o => o.value], ['单位', o => o.units], ['参考范围', o => o.range],
        ['提示', o => FLAG[o.flag] || o.flag]]))));
  }

  /* ICD search: a query box, results to pick, the picked codes as chips. */
  function icdPicker(id) {
    const picked = new Map();
    const chips = h('div', { class: 'chips' });
    const results = h('ul', { class: 'pick' });
    const q = h('input', { type: 'search', id: id + '-q', placeholder: '输入诊断名称或编码搜索（ICD-10）' });
    const draw = () => { clear(chips); for (const [c, n] of picked) chips.appendChild(h('span', { class: 'chip' }, `${c} ${n}`, btn('×', () => { picked.delete(c); draw(); }))); };
    let t;
    q.addEventListener('input', () => { clearTimeout(t); t = setTimeout(async () => {
      clear(results);
      if (!q.value.trim()) return;
      try {
        const r = await api('GET', '/api/v1/icd?q=' + encodeURIComponent(q.value.trim()));
        for (const c of r.codes) results.appendChild(h('li', {}, btn(`${c.code} ${c.name}`, () => { picked.set(c.code, c.name); draw(); clear(results); q.value = ''; })));
        if (!r.codes.length) results.appendChild(h('li', {}, '无匹配'));
      } catch (e) { results.appendChild(h('li', { class: 'err' }, e.message)); }
    }, 250); });
    const el = h('div', { class: 'field', id }, h('span', {}, '诊断编码'), q, results, chips);
    return { el, value: () => [...picked.keys()] };
  }

  function prescribe(m, v, pat) {
    const box = section('开具处方');
    box.id = 'prescribe';
    m.appendChild(box);
    const items = [];
    const list = h('div', { class: 'items' });
    const codes = icdPicker('rx-icd');
    const q = h('input', { type: 'search', id: 'drug-q', placeholder: '输入药品名称搜索' });
    const results = h('ul', { class: 'pick' });
    const drawItems = () => {
      clear(list);
      list.appendChild(table(items, [['药品', x => `${x.drug.name} ${x.drug.spec || ''}`],
        ['用法', x => `${x.dosage}${x.dose_unit} ${x.frequency} ${x.days}天`], ['数量', x => x.quantity],
        ['', x => btn('移除', () => { items.splice(items.indexOf(x), 1); drawItems(); })]], '尚未添加药品'));
    };
    let t;
    q.addEventListener('input', () => { clearTimeout(t); t = setTimeout(async () => {
      clear(results);
      if (!q.value.trim()) return;
      try {
        const r = await api('GET', '/api/v1/drugs?q=' + encodeURIComponent(q.value.trim()));
        for (const d of r.drugs) results.appendChild(h('li', {}, btn(`${d.name} ${d.spec || ''} ¥${d.price}` + (d.restricted ? '（特殊管理，线上不可开具）' : ''),
          () => { pick(d); clear(results); q.value = ''; })));
        if (!r.drugs.length) results.appendChild(h('li', {}, '无匹配'));
      } catch (e) { results.appendChild(h('li', { class: 'err' }, e.message)); }
    }, 250); });
    const itemForm = h('div', { class: 'itemform' });
    function pick(d) {
      clear(itemForm);
      const f = form([
        { name: 'dosage', label: '单次剂量', value: '1' }, { name: 'dose_unit', label: '剂量单位', value: 'mg' },
        { name: 'frequency', label: '频次', type: 'select', options: FREQ }, { name: 'route', label: '途径', type: 'select', options: ROUTE },
        { name: 'days', label: '天数', type: 'number', value: 7 }, { name: 'quantity', label: '数量', type: 'number', value: 1 },
      ], '加入处方', async b => {
        items.push(Object.assign({ drug: d }, b));
        clear(itemForm);
        drawItems();
      }, { inline: true });
      f.id = 'item';
      itemForm.append(h('p', {}, '药品：', h('strong', {}, d.name), ' ', d.spec || ''), f);
    }
    const override = h('div', { class: 'override', hidden: true });
    const go = h('form', { class: 'form', id: 'rx-submit' },
      h('label', {}, h('span', {}, '处方类别'), h('select', { name: 'recipe_type' }, RECIPE.map(([v, l]) => h('option', { value: v }, l)))),
      override, h('button', { type: 'submit', class: 'primary' }, '签名并开具'));
    go.addEventListener('submit', ev => {
      ev.preventDefault();
      act(go, async () => {
        const body = { recipe_type: go.elements.recipe_type.value, diagnosis_codes: codes.value(),
          items: items.map(x => ({ drug_id: x.drug.id, route: x.route, frequency: x.frequency, dosage: x.dosage, dose_unit: x.dose_unit, quantity: x.quantity, days: x.days })) };
        const why = go.elements.override_reason;
        if (why && why.value.trim()) body.allergy_override = { reason: why.value.trim() };
        try {
          await api('POST', `/api/v1/visits/${v.id}/prescriptions`, body);
        } catch (e) {
          if (e.field === 'allergy_override' && !why) {
            override.hidden = false;
            override.append(h('p', { class: 'warn' }, '过敏冲突：', e.message),
              h('label', {}, h('span', {}, '坚持开具的临床理由'), h('textarea', { name: 'override_reason', rows: 2 })));
          }
          throw e;
        }
        show(visit, v.id);
      });
    });
    if (pat && pat.allergies) box.appendChild(h('p', { class: 'warn' }, '患者过敏史：', pat.allergies));
    box.append(codes.el, h('div', { class: 'field' }, h('span', {}, '药品'), q, results), itemForm, list, go);
    drawItems();
  }
  const FREQ = [['qd', '每日一次 qd'], ['bid', '每日两次 bid'], ['tid', '每日三次 tid'], ['qid', '每日四次 qid'], ['qn', '每晚一次 qn'], ['prn', '必要时 prn']];
  const ROUTE = [['1', '口服'], ['2', '直肠用药'], ['3', '舌下用药'], ['4', '注射用药'], ['6', '吸入用药'], ['7', '局部用药'], ['9', '其他']];
  const RECIPE = [['1', '西药'], ['2', '中成药'], ['3', '中药饮片']];

  async function visitRx(m, v) {
    const box = section('本次处方');
    box.id = 'visit-rx';
    m.appendChild(box);
    const draw = async () => {
      const r = await act(box, () => api('GET', `/api/v1/prescriptions?visit_id=${v.id}`));
      if (!r) return;
      const old = box.querySelector('table, .empty'); if (old) old.remove();
      box.appendChild(rxTable(r.prescriptions));
    };
    await draw();
    return draw;
  }
  /* Paying an approved prescription (pay_state): dispensing waits for 已支付 or 无需支付. */
  const PAY = { none: '无需支付', paid: '已支付', pending: '待支付确认', due: '未支付' };
  function rxTable(rows, extra) {
    return table(rows, [['处方号', x => x.recipe_no], ['类别', x => x.recipe_type_name], ['状态', x => st(x.status)],
      ['药品', x => (x.items || []).map(i => `${i.name} ×${i.quantity}`).join('；') || '（打开查看）'],
      ['开具时间', x => time(x.issued_at)], ['支付', x => x.pay_state ? PAY[x.pay_state] || x.pay_state : '—'],
      ...(extra || [])], '暂无处方');
  }

  async function patients(m) {
    const box = section('我的患者（诊疗关系）');
    m.appendChild(box);
    const list = h('div');
    box.appendChild(list);
    await IH.pages(box, list, after => api('GET', '/api/v1/patients' + (after ? '?after=' + after : '')),
      r => table(r.patients, [['姓名', p => p.name], ['性别', p => p.sex_name], ['出生日期', p => p.birth_date],
        ['证件号', p => p.cert_no], ['电话', p => p.phone]], '暂无'));
    const bg = section('紧急访问（破窗）', h('p', {}, '仅限急救等紧急情况：凭患者身份证号码并写明理由申请；授权有时限，全部记录并告知安全管理员复核。'));
    bg.id = 'break-glass';
    bg.appendChild(form([{ name: 'cert_no', label: '患者证件号码' }, { name: 'reason', label: '理由（至少10个字）', type: 'textarea' }],
      '申请紧急访问', async b => {
        const g = await api('POST', '/api/v1/break-glass', b);
        flash(bg, `已授权访问患者 #${g.patient_id} 的信息，至 ${time(g.expires_at)} 止；本次访问已记录待复核。`);
      }));
    m.appendChild(bg);
  }

  /* ---- pharmacist ---- */
  /* A pharmacists' queue (status), oldest first, 200 a page with 下一页: those
   * still waiting (for payment, say) never hide the rest behind them.  Returns
   * its draw (no argument: the first page). */
  function rxQueue(box, status, label) {
    const draw = async after => {
      const r = await act(box, () => api('GET', `/api/v1/prescriptions?status=${status}&limit=200` + (after ? '&after=' + after : '')));
      if (!r) return;
      for (const old of box.querySelectorAll('table, .empty, .more')) old.remove();
      box.appendChild(rxTable(r.prescriptions, [['', x => btn(label, () => show(rxView, x.id), 'primary')]]));
      if (r.next_after != null) box.appendChild(btn('下一页', () => draw(r.next_after), 'more'));
    };
    return draw;
  }
  async function review(m) {
    const box = section('待审核处方');
    box.id = 'review-queue';
    m.appendChild(box);
    const draw = rxQueue(box, 'issued', '审核');
    IH.setRefresh(m, t => { if (t === 'rx' || t === 'resync') draw(); });
    await draw();
  }
  async function dispenseQ(m) {
    const box = section('待发药处方');
    box.id = 'dispense-queue';
    m.appendChild(box);
    await rxQueue(box, 'approved', '打开')();
    IH.setRefresh(m, t => { if (t === 'rx' || t === 'resync') show(dispenseQ); });
  }
  async function rxView(m, id) {
    const box = section('处方');
    box.id = 'rx';
    m.appendChild(box);
    const x = await act(box, () => api('GET', `/api/v1/prescriptions/${id}`));
    if (!x) return;
    box.querySelector('h2').textContent = `处方 ${x.recipe_no} · ${st(x.status)}`;
    box.appendChild(h('dl', {},
      h('dt', {}, '类别'), h('dd', {}, x.recipe_type_name),
      h('dt', {}, '诊断'), h('dd', {}, (x.diagnosis_codes || []).map(c => `${c.code} ${c.name}`).join('；')),
      h('dt', {}, '医师电子签名'), h('dd', { id: 'sig' }, x.signature ? `已签名（密钥 #${x.sign_key_id}，开具于 ${time(x.issued_at)}）` : '未签名'),
      h('dt', {}, '药师审核签名'), h('dd', {}, x.review_signature ? `已签名（密钥 #${x.review_key_id}，${time(x.reviewed_at)}）` : '未审核'),
      x.allergy_override ? [h('dt', {}, '过敏冲突理由'), h('dd', { class: 'warn' }, x.allergy_override)] : null,
      h('dt', {}, '金额'), h('dd', {}, `¥${x.total_fee}`), h('dt', {}, '有效期至'), h('dd', {}, time(x.expires_at))));
    box.appendChild(table(x.items, [['药品', i => i.name], ['规格', i => i.spec], ['用法', i => `${i.dosage}${i.dose_unit} ${i.frequency}`],
      ['天数', i => i.days], ['数量', i => `${i.quantity}${i.unit || ''}`]]));
    if (x.status === 'issued') {
      const ok = form([], '审核通过并签名', async () => { await api('POST', `/api/v1/prescriptions/${id}/review`, { decision: 'approve' }); show(rxView, id); }, { inline: true });
      ok.id = 'approve';
      const no = form([{ name: 'reason', label: '不通过理由' }], '审核不通过', async b => {
        await api('POST', `/api/v1/prescriptions/${id}/review`, { decision: 'reject', reason: b.reason }); show(rxView, id); }, { inline: true });
      no.id = 'reject';
      box.append(ok, no);
    } else if (x.status === 'approved') {
      const d = form([{ name: 'delivery_type', label: '配送方式', type: 'select', options: [['0', '到院自取'], ['1', '快递配送'], ['2', '医院配送']] }],
        '发药', async b => { await api('POST', `/api/v1/prescriptions/${id}/dispense`, b); show(rxView, id); }, { inline: true });
      d.id = 'dispense';
      box.appendChild(d);
    }
  }

  /* ---- system administrator ---- */
  async function institution(m) {
    const box = section('机构信息');
    m.appendChild(box);
    const x = await act(box, () => api('GET', '/api/v1/institution'));
    if (!x) return;
    const keys = [['name', '机构名称'], ['ih_name', '互联网医院名称'], ['organ_id', '统一社会信用代码'], ['licence_no', '执业许可证号'],
      ['licence_valid_until', '许可证有效期至'], ['ih_approval', '互联网医院批准文号'], ['entity_hospital', '依托实体医院'], ['address', '地址'], ['phone', '电话'], ['intro', '简介']];
    const f = form(keys.map(([k, l]) => ({ name: k, label: l, value: x[k] || '' })), '保存', async b => {
      await api('PUT', '/api/v1/institution', b); flash(box, '已保存。'); });
    box.appendChild(f);
  }
  async function departments(m) {
    const box = section('科室');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/departments'));
    if (r) box.appendChild(table(r.departments, [['编码', d => d.code], ['名称', d => d.name], ['诊疗科目', d => d.subject_code_name], ['类别', d => d.kind_name], ['状态', d => d.active ? '启用' : '停用']]));
    const add = section('新建科室');
    add.appendChild(form([{ name: 'code', label: '科室编码' }, { name: 'name', label: '科室名称' }, { name: 'subject_code', label: '诊疗科目编码' },
      { name: 'kind', label: '类别', type: 'select', options: [['clinical', '临床科室'], ['medtech', '医技科室'], ['nursing', '护理单元'], ['admin', '行政后勤']] }],
      '新建', async b => { await api('POST', '/api/v1/departments', b); show(departments); }));
    m.appendChild(add);
  }
  const KIND = { doctor: '医师', nurse: '护士', pharmacist: '药师' };
  const STAFF_STATUS = { active: '在岗', suspended: '暂停执业' };
  const codeCache = {};
  async function codes(table) {
    if (!codeCache[table]) codeCache[table] = api('GET', '/api/v1/codes/' + table).then(r => r.codes.map(c => [c.code, `${c.name}（${c.code}）`]));
    return codeCache[table];
  }
  async function staffScreen(m) {
    const me = IH.me();
    const box = section(me.role === 'secadmin' ? '医务人员线上执业开通' : '医务人员');
    box.id = 'staff';
    m.appendChild(box);
    /* 500 a page, 下一页 for the next */
    const out = h('div');
    box.appendChild(out);
    const r = await IH.pages(box, out, after => api('GET', '/api/v1/staff?limit=500' + (after ? '&after=' + after : '')),
      p => table(p.staff, [['姓名', x => x.name], ['类别', x => KIND[x.kind] || x.kind], ['职称', x => x.title_code_name], ['执业证号', x => x.practice_no],
        ['科室', x => (x.departments || []).map(d => d.name).join('、')], ['状态', x => STAFF_STATUS[x.status] || x.status], ['线上接诊', x => x.online ? '已开通' : '未开通'],
        ...(me.role === 'secadmin' ? [['', x => btn(x.online ? '停止线上接诊' : '开通线上接诊', () => act(box,
          () => api('POST', `/api/v1/staff/${x.id}/online`, { online: !x.online, reason: x.online ? '安全管理员停止线上执业' : '资质核验通过，开通线上执业' }),
          () => show(staffScreen)), x.online ? 'danger' : 'primary')]] : [])]));
    if (!r) return;
    if (me.role !== 'sysadmin') return;
    const [accts, depts, certs, sexes, titles, subjects] = await Promise.all([
      /* the active clinical accounts with no staff record yet, the newest first
       * (the server walks past those already registered, however many) */
      api('GET', '/api/v1/staff/candidates?limit=500'), api('GET', '/api/v1/departments'),
      codes('cert_type'), codes('sex'), codes('title'), codes('subject')]);
    const free = accts.accounts;
    const add = section('登记医务人员（开通线上接诊由安全管理员核验后进行）');
    add.id = 'staff-add';
    const f = form([
      { name: 'account_id', label: '账号', type: 'select', options: free.map(a => [a.id, `${a.username}（${ROLE[a.role]}）`]) },
      { name: 'name', label: '姓名' }, { name: 'cert_type', label: '证件类型', type: 'select', options: certs },
      { name: 'cert_no', label: '证件号码' }, { name: 'sex', label: '性别', type: 'select', options: sexes },
      { name: 'birth_date', label: '出生日期', type: 'date' }, { name: 'title_code', label: '职称', type: 'select', options: titles },
      { name: 'subject_code', label: '诊疗科目', type: 'select', options: subjects },
      { name: 'qualification_no', label: '资格证书编号' }, { name: 'practice_no', label: '执业证书编号' },
      { name: 'practice_years', label: '执业年限', type: 'number' },
      { name: 'departments', label: '所属科室', type: 'select', options: depts.departments.map(d => [d.id, d.name]) },
    ], '登记', async b => {
      b.account_id = Number(b.account_id);
      b.departments = [Number(b.departments)];
      await api('POST', '/api/v1/staff', b);
      show(staffScreen);
    });
    add.appendChild(free.length ? f : h('p', { class: 'empty' }, '没有待登记的医护账号：先在“账号”中新建，并由安全管理员激活。'));
    m.appendChild(add);
  }
  async function drugs(m) {
    const box = section('药品目录');
    m.appendChild(box);
    const q = h('input', { type: 'search', placeholder: '搜索药品' });
    const out = h('div');
    /* a page of the catalogue (100), 下一页 for the next */
    const run = () => IH.pages(box, out, after => api('GET', '/api/v1/drugs?all=1&q=' + encodeURIComponent(q.value) + (after ? '&after=' + after : '')),
      r => table(r.drugs, [['院内编码', d => d.hosp_code], ['名称', d => d.name], ['规格', d => d.spec], ['分类', d => d.drug_class_name], ['单价', d => d.price],
        ['特殊管理', d => d.restricted ? (d.restricted_class_name || '是') : '否'], ['状态', d => d.active ? '在用' : '停用']]));
    q.addEventListener('change', run);
    box.append(q, out);
    await run();
    m.appendChild(csvImport('药品目录 CSV 导入', '/api/v1/drugs/import'));
    m.appendChild(csvImport('ICD-10 编码 CSV 导入', '/api/v1/icd/import'));
  }
  function csvImport(title, path) {
    const box = section(title);
    const file = h('input', { type: 'file', accept: '.csv,text/csv' });
    box.append(file, btn('导入', () => act(box, async () => {
      const f = file.files[0];
      if (!f) throw new IH.ApiError(0, 'no_file', '请先选择 CSV 文件。');
      const r = await api('POST', path, await f.text(), { type: 'text/csv' });
      flash(box, '导入完成：' + JSON.stringify(r));
    }), 'primary'));
    return box;
  }
  async function schedules(m) {
    const box = section('排班（公开）');
    box.id = 'schedules';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/schedules'));
    if (!r) return;
    box.appendChild(table(r.schedules, [['日期', x => x.day], ['时段', x => `${x.start_time}–${x.end_time}`], ['医生', x => x.doctor && x.doctor.name],
      ['职称', x => x.doctor && x.doctor.title_name], ['方式', x => x.consult_type_name], ['号源', x => x.capacity], ['响应时限', x => `${x.response_minutes} 分钟`],
      ['费用', x => `¥${x.fee}`], ['状态', x => x.cancelled ? '已停诊' : '正常'],
      ['', x => x.cancelled ? '' : btn('停诊', () => act(box, () => api('POST', `/api/v1/schedules/${x.id}/cancel`), () => show(schedules)), 'danger')]]));
    const [depts, types] = await Promise.all([api('GET', '/api/v1/departments'), codes('consult_type')]);
    const add = section('新增排班');
    add.id = 'schedule-add';
    m.appendChild(add);
    /* the department first, then its doctors (a hospital may have more staff than
     * one list holds); another department draws the form again, keeping the rest */
    let f = null;
    const draw = async dept => {
      const docs = await act(add, () => api('GET', `/api/v1/staff?kind=doctor&dept_id=${dept}&limit=500`));
      if (!docs) return;
      const val = IH.kept(f);
      const nf = form([
        { name: 'department_id', label: '科室', type: 'select', value: dept, options: depts.departments.map(d => [d.id, d.name]) },
        { name: 'staff_id', label: '医生', type: 'select', options: docs.staff.map(x => [x.id, `${x.name}（${x.title_code_name}）`]) },
        { name: 'day', label: '日期', type: 'date', value: val('day') }, { name: 'start_time', label: '开始', type: 'time', value: val('start_time', '08:00') },
        { name: 'end_time', label: '结束', type: 'time', value: val('end_time', '12:00') }, { name: 'consult_type', label: '问诊方式', type: 'select', value: val('consult_type'), options: types },
        { name: 'capacity', label: '号源数', type: 'number', value: val('capacity', 20) }, { name: 'response_minutes', label: '响应时限（分钟）', type: 'number', value: val('response_minutes', 30) },
        { name: 'fee', label: '费用（元）', value: val('fee', '30.00') },
      ], '发布排班', async b => {
        b.staff_id = Number(b.staff_id); b.department_id = Number(b.department_id);
        await api('POST', '/api/v1/schedules', b);
        show(schedules);
      }, { inline: true });
      nf.elements.department_id.addEventListener('change', e => draw(e.target.value));
      if (f) f.replaceWith(nf); else add.appendChild(nf);
      f = nf;
    };
    if (depts.departments.length) await draw(depts.departments[0].id);
    else add.appendChild(h('p', { class: 'empty' }, '先在“科室”中建立科室。'));
  }
  const ACCT = { pending: '待激活', active: '已启用', disabled: '已停用' };
  async function accounts(m, opt) {
    const me = IH.me();
    opt = opt || { status: me.role === 'secadmin' ? 'pending' : '', after: 0 };
    const box = section('账号');
    box.id = 'accounts';
    m.appendChild(box);
    box.appendChild(stateFilter('acct-status', [['', '全部'], ['pending', '待激活'], ['active', '已启用'], ['disabled', '已停用']], opt.status,
      v => show(accounts, { status: v, after: 0 })));
    const r = await act(box, () => api('GET', `/api/v1/accounts?limit=50&after=${opt.after}` + (opt.status ? '&status=' + opt.status : '')));
    if (r) box.appendChild(table(r.accounts, [['用户名', a => a.username], ['角色', a => ROLE[a.role] || a.role], ['状态', a => ACCT[a.status] || a.status],
      ['最近登录', a => time(a.last_login_at)],
      ['操作', a => me.role === 'secadmin' && a.status === 'pending' ? btn('激活', () => act(box, () => api('POST', `/api/v1/accounts/${a.id}/activate`), () => show(accounts, opt)), 'primary')
        : me.role === 'secadmin' && a.locked ? btn('解锁', () => act(box, () => api('POST', `/api/v1/accounts/${a.id}/unlock`), () => show(accounts, opt))) : '']], '没有符合条件的账号'));
    if (r && r.next_after) box.appendChild(btn('下一页', () => show(accounts, { status: opt.status, after: r.next_after })));
    IH.setRefresh(m, t => { if (t === 'account' || t === 'resync') show(accounts, opt); });
    if (me.role === 'sysadmin') {
      const add = section('新建账号（需安全管理员激活）');
      add.appendChild(form([{ name: 'username', label: '用户名' }, { name: 'role', label: '角色', type: 'select',
        options: [['doctor', '医师'], ['nurse', '护士'], ['pharmacist', '药师']] }], '新建', async b => {
        const x = await api('POST', '/api/v1/accounts', b);
        flash(add, `已创建 ${x.account.username}；一次性密码：${x.one_time_password}（请当面交给本人，仅显示一次）`);
      }));
      m.appendChild(add);
    }
  }
  function size(n) { return n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.ceil(n / 1024) + ' KB'; }
  async function backups(m) {
    const box = section('备份');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/backups'));
    if (r) box.appendChild(table(r.backups, [['文件（含备份时间）', b => b.name], ['大小', b => b.size == null ? '—' : size(b.size)],
      ['所在节点', b => b.here ? `${b.node || ''}（本节点）` : b.node]], '尚无备份'));
    box.appendChild(btn('立即备份', () => act(box, () => longOp('POST', '/api/v1/backups', {}, op => flash(box, `正在备份（${time(op.started_at)} 开始）…`)), () => show(backups)), 'primary'));
    box.id = 'backups';
  }

  /* ---- security administrator ---- */
  async function permissions(m) {
    const box = section('角色权限（在各权限允许的角色范围内授予或收回；涉及个人或诊疗信息的授予需另一管理员审批）');
    box.id = 'permissions';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/permissions'));
    if (!r) return;
    const set = (role, perm, granted) => act(box, () => api('PUT', `/api/v1/roles/${role}/permissions/${perm}`, { granted }), x => {
      if (x && x.approval) flash(box, `已提交审批（编号 ${x.approval.id}），待系统管理员或审计管理员批准后生效。`);
      else show(permissions);
    });
    box.appendChild(table(r.permissions, [['权限', x => x.name], ['可授予的角色', x => x.bounds.map(b => ROLE[b] || b).join('、')],
      ['当前持有', x => x.holders.map(b => ROLE[b] || b).join('、') || '无'],
      ['调整', x => h('span', { class: 'row' }, x.bounds.map(b => x.holders.includes(b)
        ? (x.optional ? btn(`收回 ${ROLE[b] || b}`, () => set(b, x.name, false), 'danger') : null)
        : btn(`授予 ${ROLE[b] || b}`, () => set(b, x.name, true))))]]));
  }
  const LINK_STATE = { held: '待核对', unmatched: '未匹配', linked: '已关联', rejected: '已拒绝', merged: '已合并' };
  async function hisLinks(m) {
    const box = section('HIS 患者关联（按身份证号匹配；姓名不符或无对应患者时等待人工核对）');
    box.id = 'his-links';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/his-links'));
    if (!r) return;
    const resolve = x => form([{ name: 'patient_id', label: 'ihos 患者编号（留空则拒绝关联）', type: 'number' }, { name: 'reason', label: '拒绝理由' }],
      '提交', async b => {
        const body = b.patient_id ? { patient_id: b.patient_id } : { patient_id: null, reason: b.reason || '' };
        await api('POST', `/api/v1/his-links/${x.id}/resolve`, body);
        show(hisLinks);
      }, { inline: true });
    box.appendChild(table(r.links, [['接口', x => x.peer], ['病历号', x => x.mrn], ['HIS 姓名', x => x.name], ['证件号', x => x.cert_no],
      ['状态', x => LINK_STATE[x.status] || x.status], ['原因', x => x.reason], ['处理', x => resolve(x)]], '没有等待核对的关联'));
  }
  /* What ihos sends the hospital (HL7 outbox): refused messages to fix and retry. */
  const OUT_STATE = { pending: '等待发送', sending: '发送中', sent: '已送达', dead: '被拒收', unknown: '待确认（将重发）' };
  async function hisOutbox(m, state) {
    state = state || 'dead';
    const box = section('外发消息（发往医院 HIS/LIS/RIS）');
    box.id = 'his-outbox';
    m.appendChild(box);
    box.appendChild(stateFilter('outbox-state', Object.entries(OUT_STATE), state, v => show(hisOutbox, v)));
    const r = await act(box, () => api('GET', `/api/v1/his-outbox?state=${state}`));
    if (!r) return;
    box.appendChild(table(r.messages, [['编号', x => x.id], ['接口', x => x.peer], ['消息', x => x.type], ['控制号', x => x.control_id],
      ['对象', x => x.object], ['状态', x => OUT_STATE[x.state] || x.state], ['次数', x => x.attempts], ['应答', x => x.ack_code || ''],
      ['错误码', x => x.error_code || ''], ['说明', x => x.detail || (x.ack_code && x.state === 'dead' ? '对方应答原文已加密保存，请按控制号在对方系统查看' : '')], ['时间', x => time(x.created_at)],
      ['', x => x.state === 'dead' ? btn('重新发送', () => act(box, () => api('POST', `/api/v1/his-outbox/${x.id}/retry`), () => show(hisOutbox, state)), 'primary') : '']],
      '没有该状态的消息'));
  }
  const KIND_APPROVAL = { role: '角色变更', grant: '权限变更' };
  const APPROVAL_STATE = { pending: '待审批', approved: '已批准', rejected: '已驳回' };
  async function approvals(m) {
    const box = section('待审批的变更（提出者以外的管理员审批）');
    box.id = 'approvals';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/approvals'));
    if (!r) return;
    const me = IH.me();
    const decide = (x, decision) => act(box, () => api('POST', `/api/v1/approvals/${x.id}`, { decision }), () => show(approvals));
    box.appendChild(table(r.approvals, [['编号', x => x.id], ['类别', x => KIND_APPROVAL[x.kind] || x.kind],
      ['内容', x => x.kind === 'role' ? `账号 #${x.account_id} 改为 ${ROLE[x.role] || x.role}` : `${x.granted ? '授予' : '收回'} ${ROLE[x.role] || x.role}：${x.permission}`],
      ['提出时间', x => time(x.proposed_at)], ['状态', x => APPROVAL_STATE[x.state] || x.state],
      ['', x => x.state === 'pending' && me.role !== 'secadmin' ? h('span', { class: 'row' }, btn('批准', () => decide(x, 'approve'), 'primary'), btn('驳回', () => decide(x, 'reject'), 'danger')) : '']],
      '没有待审批的变更'));
  }
  async function breakGlass(m) {
    const box = section('破窗访问复核');
    box.id = 'break-glass';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/break-glass'));
    if (!r) return;
    const review = x => {
      const f = form([{ name: 'verdict', label: '结论', type: 'select', options: [['justified', '理由成立'], ['unjustified', '理由不成立']] },
        { name: 'note', label: '说明' }], '提交复核', async b => { await api('POST', `/api/v1/break-glass/${x.id}/review`, b); show(breakGlass); }, { inline: true });
      return f;
    };
    box.appendChild(table(r.grants, [['编号', x => x.id], ['医务人员', x => x.staff_name || `#${x.staff_id}`], ['患者', x => x.patient_name || `#${x.patient_id}`],
      ['理由', x => x.reason], ['授权时间', x => time(x.granted_at)], ['到期', x => time(x.expires_at)],
      ['复核', x => x.reviewed_at ? `${x.review_verdict_name || x.review_verdict}（${time(x.reviewed_at)}）` : review(x)]], '没有破窗访问记录'));
  }
  const STATS_STATE = { pending: '待审批', approved: '已批准', rejected: '已驳回', run: '已执行' };
  async function statsReq(m) {
    const box = section('统方申请审批（申请人以外的人审批）');
    box.id = 'stats';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/stats-requests'));
    if (!r) return;
    const decide = x => form([{ name: 'approve', label: '批准', type: 'checkbox' }, { name: 'reason', label: '审批意见' }], '提交',
      async b => { await api('POST', `/api/v1/stats-requests/${x.id}/decision`, b); show(statsReq); }, { inline: true });
    box.appendChild(table(r.requests, [['编号', x => x.id], ['申请人', x => x.requester_name || `#${x.requester_id}`], ['报表', x => x.report_name || x.report],
      ['用途', x => x.purpose], ['统计区间', x => `${x.window_from} 至 ${x.window_to}`], ['状态', x => STATS_STATE[x.status] || x.status],
      ['', x => x.status === 'pending' ? decide(x) : '']], '没有统方申请'));
  }
  /* Newest first, 50 a page; 未处理 first, so an open incident never hides
   * behind newer ones. */
  const INC = { open: '未处理', acknowledged: '已确认', resolved: '已解决' };
  async function incidents(m, status) {
    status = status ?? 'open';
    const box = section('安全事件与告警（检测器、完整性）');
    box.id = 'incidents';
    m.appendChild(box);
    const out = h('div');
    box.append(stateFilter('incident-status', [...Object.entries(INC), ['', '全部']], status, v => show(incidents, v)), out);
    await IH.pages(box, out, before => api('GET', '/api/v1/incidents?limit=50' + (status ? '&status=' + status : '') + (before != null ? '&before=' + before : '')),
      r => table(r.incidents, [['编号', x => x.id], ['类别', x => x.kind_name || x.kind], ['级别', x => x.severity_name || x.severity], ['摘要', x => x.summary],
        ['状态', x => INC[x.status] || x.status], ['时间', x => time(x.opened_at || x.created_at)],
        ['', x => x.status === 'open' ? btn('确认', () => act(box, () => api('POST', `/api/v1/incidents/${x.id}/acknowledge`, {}), () => show(incidents, status))) : '']],
      status ? '没有该状态的安全事件' : '暂无安全事件'));
  }

  /* The Level 3 self-check of this instance as it is now (docs/compliance.md):
   * it verifies the whole journal and scans every protected row, so it is a
   * long operation, run when asked. */
  async function selfcheck(m) {
    const box = section('等保三级自查');
    box.id = 'selfcheck';
    const out = h('div');
    const render = r => {
      clear(out);
      const s = r.summary, g = s.gb22239;
      out.append(h('p', {}, `生成于 ${time(r.generated_at)}；估算符合度 ${(s.estimate * 100).toFixed(1)}%；高风险项 ${s.high_risk} 项；` +
        `GB/T 22239 符合 ${g.pass}、部分符合 ${g.partial}、不符合 ${g.fail}、不适用 ${g.na} 项。`),
        h('h3', {}, '高风险项'),
        table(r.high_risk_findings, [['条款', x => x.id], ['要求', x => x.title], ['发现', x => x.finding], ['整改建议', x => x.remedy]], '无高风险项'),
        h('h3', {}, '逐项结论'),
        table(r.items, [['条款', x => x.id], ['要求', x => x.title], ['结论', x => x.verdict], ['发现', x => x.finding], ['整改建议', x => x.remedy || '']]));
    };
    box.append(h('p', {}, '对照 GB/T 22239-2019 第三级与 GB/T 39786-2021 逐项核查本实例当前的配置与数据：完整校验审计日志并扫描全部受保护数据，大型实例需数分钟。'),
      btn('运行自查', () => act(box, () => longOp('GET', '/api/v1/selfcheck', null, op => flash(box, `正在自查（${time(op.started_at)} 开始）…`)),
        r => { flash(box, '自查完成。'); render(r); }), 'primary'), out);
    m.appendChild(box);
  }

  /* ---- audit administrator ---- */
  async function audit(m) {
    const box = section('审计记录查询');
    box.id = 'audit';
    m.appendChild(box);
    const out = h('div');
    const PAGE = 200;
    /* 导出: the form's query as files of at most EXPORT events (the most the
     * server puts in one export); where it says more follow (X-Ihos-Next-After,
     * -Before), the note says how far the file goes and 继续导出 fetches the next */
    const EXPORT = 100000;
    let asked = {};
    const expOut = h('div', { id: 'audit-export' });
    const exportPart = async (b, cursor, part) => {
      const oldest = b.order === 'oldest';
      const q = Object.assign({}, b, { limit: EXPORT });
      if (cursor != null) q[oldest ? 'after' : 'before'] = cursor;
      const r = await api('GET', '/api/v1/audit/export?' + new URLSearchParams(q).toString(), null, { raw: true });
      const next = r.headers.get(oldest ? 'X-Ihos-Next-After' : 'X-Ihos-Next-Before');
      const text = await r.text();
      const n = text.split('\n').length - 1; /* one event per line, each ending in a newline */
      const name = `ihos-audit-${part}.ndjson`;
      const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' })), download: name });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      clear(expOut);
      expOut.appendChild(h('p', { id: 'export-note', class: next != null ? 'warn' : 'ok', data: { count: n, part } }, `${name}：${n} 条事件，`,
        next != null ? `已检索至第 ${next} 条事件；${oldest ? '其后' : '其前'}的记录不在此文件中，请继续导出。` : '导出完毕。'));
      if (next != null) expOut.appendChild(btn('继续导出', () => act(expOut, () => exportPart(b, next, part + 1))));
    };
    /* one page of the filter b (newest or oldest first), from the cursor on;
     * the server says where the next starts (a query by operation or result
     * alone looks through a stretch of the journal per page, so a page may
     * hold few or none) */
    const page = async (b, cursor) => {
      const oldest = b.order === 'oldest';
      const q = Object.assign({ limit: PAGE }, b);
      if (cursor != null) q[oldest ? 'after' : 'before'] = cursor;
      const r = await api('GET', '/api/v1/audit/events?' + new URLSearchParams(q).toString());
      const next = oldest ? r.next_after : r.next_before;
      clear(out);
      out.appendChild(table(r.events, [['序号', e => e.seq], ['时间', e => time(e.time)], ['操作者', e => e.actor_username ? `${e.actor_username}（${ROLE[e.actor_role] || e.actor_role || ''}）` : (e.actor_role || '系统')],
        ['操作', e => e.action], ['对象', e => `${e.object_type || ''} ${e.object_id || ''}`], ['结果', e => OUTCOME[e.outcome] || e.outcome], ['来源地址', e => e.ip]],
        next != null ? '本段无匹配记录' : '无匹配记录'));
      if (next != null) {
        if (r.events.length < PAGE) out.appendChild(h('p', { class: 'empty' }, `已检索至第 ${next} 条事件，${oldest ? '其后' : '其前'}的记录尚未检索。`));
        out.appendChild(btn(r.events.length < PAGE ? '继续检索' : '下一页', () => act(out, () => page(b, next))));
      }
    };
    const f = form([{ name: 'actor_username', label: '操作者（用户名）' }, { name: 'action', label: '操作（如 visit.accept）' },
      { name: 'object_type', label: '对象类型' }, { name: 'object_id', label: '对象编号' },
      { name: 'outcome', label: '结果', type: 'select', options: [['', '全部'], ['success', '成功'], ['failure', '失败']] },
      { name: 'order', label: '排序', type: 'select', value: 'newest', options: [['newest', '最新在前'], ['oldest', '最早在前']] },
      { name: 'from', label: '起始（YYYY-MM-DD）' }, { name: 'to', label: '截止（YYYY-MM-DD）' }],
      '查询', async b => {
        asked = b;
        clear(expOut);
        await page(b, null);
      }, { inline: true });
    box.append(f, out);
    f.requestSubmit();
    const v = section('完整性验证与导出');
    v.append(btn('验证审计日志', () => act(v, () => longOp('POST', '/api/v1/audit/verify', {}, op => flash(v, `正在验证（${time(op.started_at)} 开始）…`)), r => flash(v, r.ok
        ? `验证通过：${r.events} 条事件、${r.checkpoints} 个签名检查点完整，链与签名均正确。`
        : `验证失败：${r.problem}（事件 ${r.bad_event ?? '—'}，检查点 ${r.bad_checkpoint ?? '—'}）`)), 'primary'),
      btn('导出查询结果', () => act(v, () => exportPart(asked, null, 1))), expOut);
    m.appendChild(v);
  }
  /* newest first: a checkpoint every few seconds the journal grows */
  async function checkpoints(m) {
    const box = section('审计检查点');
    m.appendChild(box);
    const out = h('div');
    box.appendChild(out);
    await IH.pages(box, out, before => api('GET', '/api/v1/audit/checkpoints?order=newest&limit=100' + (before != null ? '&before=' + before : '')),
      r => table(r.checkpoints, [['事件数', c => c.size], ['时间', c => time(c.created)], ['默克尔根', c => c.root], ['签名', c => c.note ? '已签名' : '—']]));
  }


  const CON = IHCONSULT.screens({ section, show, studyView });
  const SCREENS = {
    doctor: [['接诊台', queue], ['我的患者', patients], ...CON.doctor],
    nurse: [['我的患者', patients]],
    pharmacist: [['处方审核', review], ['发药', dispenseQ]],
    sysadmin: [['机构', institution], ['科室', departments], ['医务人员', staffScreen], ['药品与编码', drugs], ['排班', schedules], ['账号', accounts], ['审批', approvals], ['HIS 关联', hisLinks], ['外发消息', hisOutbox], ...CON.sysadmin, ['备份', backups]],
    secadmin: [['账号激活', accounts], ['线上执业', staffScreen], ['权限', permissions], ['审批', approvals], ['破窗复核', breakGlass], ['统方审批', statsReq], ['安全告警', incidents], ['等保自查', selfcheck]],
    auditadmin: [['审计查询', audit], ['检查点', checkpoints], ['审批', approvals], ['等保自查', selfcheck]],
  };

  function ready(me) {
    clear(root);
    const screens = SCREENS[me.role];
    if (!screens) { root.appendChild(h('section', { class: 'card' }, h('p', { class: 'err' }, '此账号请使用患者端：'), h('a', { href: '/h5/' }, '/h5/'))); return; }
    nav = h('nav', {}, screens.map(([label, fn]) => {
      const a = h('a', { href: '#', data: { screen: fn.name } }, label);
      a.addEventListener('click', ev => { ev.preventDefault(); show(fn); });
      return a;
    }));
    main = h('main', { id: 'main' });
    root.append(h('header', {},
      h('strong', { class: 'brand' }, 'ihos 互联网医院'),
      h('span', { class: 'who', id: 'who' }, `${me.username}（${ROLE[me.role] || me.role}）`),
      h('span', { class: 'live-dot', title: '实时更新' }, '●'),
      h('span', { id: 'idle', class: 'idle' }),
      btn('退出', () => IH.logout(), 'logout')), nav, main);
    show(screens[0][1]);
  }

  IH.boot(root, { title: 'ihos 医护与管理工作台', ready });
})();
