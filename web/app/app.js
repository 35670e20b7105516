/* app.js — the staff console (/app/): the doctor's workbench, the
 * pharmacist's review and dispensing, and the three administrators'
 * screens.  Each screen is a function drawing into the main area from the
 * API; live updates redraw the screen that shows what changed. */
'use strict';
(() => {
  const { h, clear, time, mmss, api, act, form, table, btn, flash, showError } = IH;
  const root = document.getElementById('root');
  const ROLE = { doctor: '医师', nurse: '护士', pharmacist: '药师', sysadmin: '系统管理员', secadmin: '安全管理员', auditadmin: '审计管理员' };
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
    IH.setRefresh(m, t => { if (t === 'visit') draw(); });
    await draw();
    const box2 = section('诊疗中');
    m.appendChild(box2);
    const r2 = await act(box2, () => api('GET', '/api/v1/visits?status=accepted'));
    if (r2) box2.appendChild(table(r2.visits, [['患者', v => v.patient_name], ['类型', v => v.kind_name],
      ['接诊时间', v => time(v.accepted_at)], ['', v => btn('打开', () => show(visit, v.id))]], '暂无'));
  }
  function tickClocks(box) {
    for (const el of box.querySelectorAll('.clock')) {
      const left = (new Date(el.dataset.until) - Date.now()) / 1000;
      el.textContent = left > 0 ? mmss(left) : '已超时';
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
    let pull = null, rxDraw = null;
    if (v.status === 'accepted' || v.status === 'closed') {
      pull = chat(m, v);
      await records(m, v);
      if (me.role === 'doctor' && v.status === 'accepted') prescribe(m, v, pat);
      rxDraw = await visitRx(m, v);
      if (me.role === 'doctor' && v.status === 'accepted') {
        const c = section('结束就诊', btn('结束本次就诊', () => act(c, () => api('POST', `/api/v1/visits/${id}/close`), () => show(visit, id)), 'danger'));
        c.id = 'close';
        m.appendChild(c);
      }
    }
    IH.setRefresh(m, (t, d) => {
      if (d.visit !== id) return;
      if (t === 'message' && pull) pull();
      else if (t === 'rx' && rxDraw) rxDraw();
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
      const r = await act(box, () => api('GET', '/api/v1/prescriptions'));
      if (!r) return;
      const old = box.querySelector('table, .empty'); if (old) old.remove();
      box.appendChild(rxTable(r.prescriptions.filter(x => x.visit_id === v.id)));
    };
    await draw();
    return draw;
  }
  function rxTable(rows, extra) {
    return table(rows, [['处方号', x => x.recipe_no], ['类别', x => x.recipe_type_name], ['状态', x => st(x.status)],
      ['药品', x => (x.items || []).map(i => `${i.name} ×${i.quantity}`).join('；') || '（打开查看）'],
      ['开具时间', x => time(x.issued_at)], ...(extra || [])], '暂无处方');
  }

  async function patients(m) {
    const box = section('我的患者（诊疗关系）');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/patients'));
    if (r) box.appendChild(table(r.patients, [['姓名', p => p.name], ['性别', p => p.sex_name], ['出生日期', p => p.birth_date],
      ['证件号', p => p.cert_no], ['电话', p => p.phone]], '暂无'));
    const bg = section('紧急访问（破窗）', h('p', {}, '仅限急救等紧急情况：访问将被记录并由安全管理员复核。'));
    bg.appendChild(form([{ name: 'patient_id', label: '患者编号', type: 'number' }, { name: 'reason', label: '理由', type: 'textarea' }],
      '申请紧急访问', async b => {
        const r2 = await api('POST', `/api/v1/patients/${b.patient_id}/break-glass`, { reason: b.reason });
        flash(bg, `已授权，至 ${time(r2.expires_at)} 止。`);
      }));
    m.appendChild(bg);
  }

  /* ---- pharmacist ---- */
  async function review(m) {
    const box = section('待审核处方');
    box.id = 'review-queue';
    m.appendChild(box);
    const draw = async () => {
      const r = await act(box, () => api('GET', '/api/v1/prescriptions?status=issued'));
      if (!r) return;
      const old = box.querySelector('table, .empty'); if (old) old.remove();
      box.appendChild(rxTable(r.prescriptions, [['', x => btn('审核', () => show(rxView, x.id), 'primary')]]));
    };
    IH.setRefresh(m, t => { if (t === 'rx') draw(); });
    await draw();
  }
  async function dispenseQ(m) {
    const box = section('待发药处方');
    box.id = 'dispense-queue';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/prescriptions?status=approved'));
    if (r) box.appendChild(rxTable(r.prescriptions, [['', x => btn('打开', () => show(rxView, x.id), 'primary')]]));
    IH.setRefresh(m, t => { if (t === 'rx') show(dispenseQ); });
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
  async function staffScreen(m) {
    const box = section('医务人员');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/staff'));
    if (r) box.appendChild(table(r.staff, [['姓名', s => s.name], ['类别', s => s.kind], ['职称', s => s.title_code_name], ['执业证号', s => s.practice_no],
      ['科室', s => (s.departments || []).map(d => d.name).join('、')], ['状态', s => s.status], ['线上接诊', s => s.online ? '已开通' : '未开通']]));
  }
  async function drugs(m) {
    const box = section('药品目录');
    m.appendChild(box);
    const q = h('input', { type: 'search', placeholder: '搜索药品' });
    const out = h('div');
    const run = async () => { const r = await act(box, () => api('GET', '/api/v1/drugs?all=1&q=' + encodeURIComponent(q.value))); if (r) { clear(out); out.appendChild(table(r.drugs, [
      ['院内编码', d => d.hosp_code], ['名称', d => d.name], ['规格', d => d.spec], ['分类', d => d.drug_class_name], ['单价', d => d.price],
      ['特殊管理', d => d.restricted ? (d.restricted_class_name || '是') : '否'], ['状态', d => d.active ? '在用' : '停用']])); } };
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
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/schedules'));
    if (r) box.appendChild(table(r.schedules, [['日期', s => s.day], ['时段', s => `${s.start_time}–${s.end_time}`], ['医生', s => s.doctor && s.doctor.name],
      ['职称', s => s.doctor && s.doctor.title_name], ['方式', s => s.consult_type_name], ['号源', s => s.capacity], ['响应时限', s => `${s.response_minutes} 分钟`],
      ['费用', s => `¥${s.fee}`], ['状态', s => s.cancelled ? '已停诊' : '正常']]));
  }
  const ACCT = { pending: '待激活', active: '已启用', disabled: '已停用' };
  async function accounts(m, opt) {
    const me = IH.me();
    opt = opt || { status: me.role === 'secadmin' ? 'pending' : '', after: 0 };
    const box = section('账号');
    box.id = 'accounts';
    m.appendChild(box);
    const filter = h('select', { name: 'status', id: 'acct-status' },
      [['', '全部'], ['pending', '待激活'], ['active', '已启用'], ['disabled', '已停用']].map(([v, l]) => h('option', { value: v, selected: v === opt.status }, l)));
    filter.addEventListener('change', () => show(accounts, { status: filter.value, after: 0 }));
    box.appendChild(h('label', { class: 'check' }, h('span', {}, '状态'), filter));
    const r = await act(box, () => api('GET', `/api/v1/accounts?limit=50&after=${opt.after}` + (opt.status ? '&status=' + opt.status : '')));
    if (r) box.appendChild(table(r.accounts, [['用户名', a => a.username], ['角色', a => ROLE[a.role] || a.role], ['状态', a => ACCT[a.status] || a.status],
      ['最近登录', a => time(a.last_login_at)],
      ['操作', a => me.role === 'secadmin' && a.status === 'pending' ? btn('激活', () => act(box, () => api('POST', `/api/v1/accounts/${a.id}/activate`), () => show(accounts, opt)), 'primary')
        : me.role === 'secadmin' && a.locked ? btn('解锁', () => act(box, () => api('POST', `/api/v1/accounts/${a.id}/unlock`), () => show(accounts, opt))) : '']], '没有符合条件的账号'));
    if (r && r.next_after) box.appendChild(btn('下一页', () => show(accounts, { status: opt.status, after: r.next_after })));
    IH.setRefresh(m, t => { if (t === 'account') show(accounts, opt); });
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
    if (r) box.appendChild(table(r.backups, [['文件（含备份时间）', b => b.name], ['大小', b => size(b.size)]], '尚无备份'));
    box.appendChild(btn('立即备份', () => act(box, () => api('POST', '/api/v1/backups', {}), () => show(backups)), 'primary'));
    box.id = 'backups';
  }

  /* ---- security administrator ---- */
  async function permissions(m) {
    const box = section('角色权限');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/permissions'));
    if (r) box.appendChild(h('pre', { class: 'json' }, JSON.stringify(r, null, 2)));
  }
  async function breakGlass(m) {
    const box = section('破窗访问复核');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/break-glass'));
    if (r) box.appendChild(table(r.grants || r.break_glass || [], [['医师', g => g.doctor_name || g.staff_id], ['患者', g => g.patient_id], ['理由', g => g.reason],
      ['时间', g => time(g.granted_at || g.created_at)], ['复核', g => g.reviewed_at ? (g.verdict_name || g.verdict) : h('span', { class: 'row' },
        btn('合理', () => act(box, () => api('POST', `/api/v1/break-glass/${g.id}/review`, { verdict: 'justified' }), () => show(breakGlass))),
        btn('不合理', () => act(box, () => api('POST', `/api/v1/break-glass/${g.id}/review`, { verdict: 'unjustified' }), () => show(breakGlass)), 'danger'))]]));
  }
  async function statsReq(m) {
    const box = section('统方申请审批');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/stats-requests'));
    if (r) box.appendChild(table(r.requests || r.stats_requests || [], [['申请人', x => x.requester_name || x.requested_by], ['报表', x => x.report_name || x.report], ['理由', x => x.reason],
      ['状态', x => x.status], ['', x => x.status === 'pending' ? h('span', { class: 'row' },
        btn('批准', () => act(box, () => api('POST', `/api/v1/stats-requests/${x.id}/decision`, { decision: 'approve' }), () => show(statsReq))),
        btn('驳回', () => act(box, () => api('POST', `/api/v1/stats-requests/${x.id}/decision`, { decision: 'reject', reason: '不符合统方管理规定' }), () => show(statsReq)), 'danger')) : '']]));
  }
  async function incidents(m) {
    const box = section('安全事件与告警（检测器、完整性）');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/incidents'));
    if (r) box.appendChild(table(r.incidents, [['编号', x => x.id], ['类别', x => x.kind_name || x.kind], ['级别', x => x.severity], ['摘要', x => x.summary],
      ['状态', x => x.status], ['时间', x => time(x.opened_at || x.created_at)],
      ['', x => x.status === 'open' ? btn('确认', () => act(box, () => api('POST', `/api/v1/incidents/${x.id}/acknowledge`, {}), () => show(incidents))) : '']], '暂无安全事件'));
  }

  /* ---- audit administrator ---- */
  async function audit(m) {
    const box = section('审计记录查询');
    box.id = 'audit';
    m.appendChild(box);
    const out = h('div');
    const f = form([{ name: 'actor_username', label: '操作者（用户名）' }, { name: 'action', label: '操作（如 visit.accept）' },
      { name: 'object_type', label: '对象类型' }, { name: 'object_id', label: '对象编号' }, { name: 'from', label: '起始（YYYY-MM-DD）' }, { name: 'to', label: '截止（YYYY-MM-DD）' }],
      '查询', async b => {
        const qs = new URLSearchParams(Object.assign({ limit: 200 }, b)).toString();
        const r = await api('GET', '/api/v1/audit/events?' + qs);
        clear(out);
        out.appendChild(table(r.events, [['序号', e => e.seq], ['时间', e => time(e.at || e.time)], ['操作者', e => e.actor_username ? `${e.actor_username}（${ROLE[e.actor_role] || e.actor_role || ''}）` : (e.actor_role || '系统')],
          ['操作', e => e.action], ['对象', e => `${e.object_type || ''} ${e.object_id || ''}`], ['结果', e => e.outcome], ['来源地址', e => e.ip]], '无匹配记录'));
      }, { inline: true });
    box.append(f, out);
    f.requestSubmit();
    const v = section('完整性验证与导出');
    v.append(btn('验证审计日志', () => act(v, () => api('POST', '/api/v1/audit/verify', {}), r => flash(v, '验证结果：' + JSON.stringify(r))), 'primary'),
      h('a', { href: '/api/v1/audit/export', class: 'button', download: 'audit-export.jsonl' }, '导出'));
    m.appendChild(v);
  }
  async function checkpoints(m) {
    const box = section('审计检查点');
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/audit/checkpoints'));
    if (r) box.appendChild(table(r.checkpoints, [['序号', c => c.seq], ['时间', c => time(c.at || c.created_at)], ['根哈希', c => c.root || c.hash], ['签名', c => c.signature ? '已签名' : '—']]));
  }

  const SCREENS = {
    doctor: [['接诊台', queue], ['我的患者', patients]],
    nurse: [['我的患者', patients]],
    pharmacist: [['处方审核', review], ['发药', dispenseQ]],
    sysadmin: [['机构', institution], ['科室', departments], ['医务人员', staffScreen], ['药品与编码', drugs], ['排班', schedules], ['账号', accounts], ['备份', backups]],
    secadmin: [['账号激活', accounts], ['权限', permissions], ['破窗复核', breakGlass], ['统方审批', statsReq], ['安全告警', incidents]],
    auditadmin: [['审计查询', audit], ['检查点', checkpoints]],
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
