/* h5.js — the patients' pages (/h5/), phone-sized: registration with real
 * name and consent, the public schedule, asking for a consultation or a
 * follow-up, the visit's chat, own records and prescriptions (masked as
 * the API masks), payment state, evaluation and complaint. */
'use strict';
(() => {
  const { h, clear, time, api, act, form, table, btn, flash } = IH;
  const root = document.getElementById('root');
  const STATUS = { requested: '等待医生接诊', accepted: '问诊中', closed: '已结束', refused: '医生未接诊', cancelled: '已取消', expired: '已超时',
                   issued: '待药师审核', approved: '审核通过', rejected: '审核未通过', dispensed: '已发药', delivered: '已送达' };
  const PAY = { pending: '待支付', paid: '已支付', refunded: '已退款', closed: '已关闭', failed: '支付失败' };
  let main, tabs;

  function card(title, ...kids) { return h('section', { class: 'card' }, h('h2', {}, title), ...kids); }
  function show(screen, arg) {
    for (const a of tabs.querySelectorAll('a')) a.classList.toggle('on', a.dataset.screen === screen.name);
    clear(main);
    IH.setRefresh(null);
    /* each drawing gets its own view: a slower, older one lands in a
     * detached node and never mixes with the screen now shown */
    const view = h('div', { class: 'view' });
    main.appendChild(view);
    screen(view, arg);
  }

  async function schedule(m) {
    const box = card('医生排班');
    box.id = 'schedule';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/schedules'));
    if (!r) return;
    const list = h('ul', { class: 'cards' });
    for (const s of r.schedules.filter(x => x.open)) { /* the server says which still take requests */
      list.appendChild(h('li', {},
        h('p', {}, h('strong', {}, s.doctor ? s.doctor.name : '医生'), ' ', s.doctor ? s.doctor.title_name : ''),
        h('p', {}, `${s.day} ${s.start_time}–${s.end_time} · ${s.consult_type_name} · ¥${s.fee} · ${s.response_minutes} 分钟内回复`),
        btn('预约复诊', () => show(request, s), 'primary')));
    }
    box.appendChild(list.childNodes.length ? list : h('p', { class: 'empty' }, '暂无可预约的排班'));
  }

  function request(m, s) {
    const box = card(`向 ${s.doctor ? s.doctor.name : '医生'} 申请（${s.day} ${s.start_time}）`);
    box.id = 'request';
    m.appendChild(box);
    box.appendChild(h('p', { class: 'notice' }, '互联网医院只提供常见病、慢性病复诊：请填写线下首诊的医院、时间和诊断。首诊不能在线上进行。'));
    box.appendChild(form([
      { name: 'kind', label: '类型', type: 'select', options: [['followup', '复诊'], ['consult', '咨询']] },
      { name: 'complaint', label: '本次主诉', type: 'textarea' },
      { name: 'first_diagnosis', label: '线下首诊（医院、时间、诊断）', type: 'textarea' },
      { name: 'disease_history', label: '病史', type: 'textarea' },
    ], '提交申请', async b => {
      b.schedule_id = s.id;
      if (b.kind !== 'followup') { delete b.first_diagnosis; delete b.disease_history; }
      const v = await api('POST', '/api/v1/visits', b);
      show(visit, v.id);
    }));
  }

  async function visits(m) {
    const box = card('我的问诊');
    box.id = 'visits';
    m.appendChild(box);
    /* the latest first; older ones a page at a time (更早的问诊) */
    let shown = [];
    const draw = async before => {
      const r = await act(box, () => api('GET', '/api/v1/visits?order=newest&limit=20' + (before ? '&before=' + before : '')));
      if (!r) return;
      shown = before ? shown.concat(r.visits) : r.visits;
      for (const old of box.querySelectorAll('table, .empty, .more')) old.remove();
      box.appendChild(table(shown, [['类型', v => v.kind_name], ['状态', v => STATUS[v.status] || v.status], ['申请时间', v => time(v.requested_at)],
        ['', v => btn('查看', () => show(visit, v.id), 'primary')]], '还没有问诊'));
      if (r.next_before != null) box.appendChild(btn('更早的问诊', () => draw(r.next_before), 'more'));
    };
    IH.setRefresh(m, t => { if (t === 'visit' || t === 'resync') draw(); });
    await draw();
  }

  async function visit(m, id) {
    const box = card('问诊');
    box.id = 'visit';
    m.appendChild(box);
    const v = await act(box, () => api('GET', `/api/v1/visits/${id}`));
    if (!v) return;
    box.querySelector('h2').textContent = `${v.kind_name} · ${STATUS[v.status] || v.status}`;
    box.appendChild(h('p', { id: 'visit-status', data: { status: v.status } }, '主诉：', v.complaint));
    if (v.status === 'refused' && v.refuse_reason) box.appendChild(h('p', { class: 'warn' }, '医生说明：', v.refuse_reason));
    if (v.status === 'requested') box.appendChild(btn('取消申请', () => act(box, () => api('POST', `/api/v1/visits/${id}/cancel`), () => show(visit, id))));
    let last = 0;
    const log = h('ol', { class: 'chat', id: 'chat' });
    const add = msgs => { for (const x of msgs) { if (x.id <= last) continue; last = x.id;
      log.appendChild(h('li', { class: x.sender_role === 'patient' ? 'me' : 'them' }, h('span', { class: 'who' }, x.sender_role === 'patient' ? '我' : '医生', ' · ', time(x.created_at)), h('p', {}, x.body))); } };
    add(v.messages || []);
    const pull = async () => { const r = await act(chatBox, () => api('GET', `/api/v1/visits/${id}?after_message=${last}`)); if (r) add(r.messages || []); };
    const chatBox = card('与医生交流', log);
    chatBox.id = 'chat-box';
    if (v.status === 'accepted') {
      const f = form([{ name: 'body', label: '消息', type: 'textarea', rows: 2 }], '发送', async b => {
        await api('POST', `/api/v1/visits/${id}/messages`, b); f.reset(); await pull(); }, { inline: true });
      f.id = 'send';
      chatBox.appendChild(f);
    }
    if (v.status !== 'requested') m.appendChild(chatBox);
    let callDraw = null;
    if (v.status === 'accepted') {
      const c = card('视频问诊');
      c.id = 'call';
      m.appendChild(c);
      callDraw = IHAV.mount(c, { url: `/api/v1/visits/${v.id}/call`, role: 'patient', host: false, live: true, label: '视频问诊' });
    }
    if (v.status === 'accepted' || v.status === 'closed') {
      const rec = card('病历');
      rec.id = 'records';
      m.appendChild(rec);
      const r = await act(rec, () => api('GET', `/api/v1/visits/${id}/records`));
      if (r) rec.appendChild(table(r.records, [['诊断', x => (x.diagnosis_codes || []).map(c => c.name).join('；') || x.diagnosis], ['处理意见', x => x.opinion], ['时间', x => time(x.created_at)]], '医生尚未书写病历'));
      await prescriptions(m, id);
    }
    if (v.status === 'closed') {
      const ev = card('评价与投诉');
      ev.id = 'evaluate';
      ev.appendChild(form([
        { name: 'satisfaction', label: '满意度（1–5）', type: 'select', options: [['5', '非常满意'], ['4', '满意'], ['3', '一般'], ['2', '不满意'], ['1', '非常不满意']] },
        { name: 'score', label: '评分（0–10）', type: 'number', value: 10 },
        { name: 'text', label: '评价', type: 'textarea' }, { name: 'complaint', label: '投诉（如有）', type: 'textarea' },
      ], '提交评价', async b => { b.satisfaction = Number(b.satisfaction); await api('POST', `/api/v1/visits/${id}/evaluation`, b); flash(ev, '感谢您的评价。'); }));
      m.appendChild(ev);
    }
    IH.setRefresh(m, (t, d) => { if (t === 'resync') return show(visit, id); if (d.visit !== id) return; if (t === 'message') pull(); else if (t === 'call') { if (callDraw) callDraw(); } else show(visit, id); });
  }

  async function prescriptions(m, visitId) {
    const box = card(visitId ? '本次处方' : '我的处方');
    box.id = 'prescriptions';
    m.appendChild(box);
    const out = h('div');
    box.appendChild(out);
    const draw = r => table(r.prescriptions, [['处方号', x => x.recipe_no], ['状态', x => STATUS[x.status] || x.status],
      ['药品', x => (x.items || []).map(i => `${i.name} ×${i.quantity}`).join('；')], ['金额', x => `¥${x.total_fee}`],
      ['取药方式', x => dispensing(box, x)],
      ['支付', x => x.status !== 'approved' ? '' : x.pay_state === 'paid' ? '已支付' : x.pay_state === 'none' ? '无需支付'
        : payButton(box, x)]], '暂无处方');
    /* one visit's; or all of them, the latest first, 50 a page (下一页 for older ones) */
    if (visitId) {
      const r = await act(box, () => api('GET', `/api/v1/prescriptions?visit_id=${visitId}`));
      if (r) out.appendChild(draw(r));
    } else {
      await IH.pages(box, out, before => api('GET', '/api/v1/prescriptions?order=newest&limit=50' + (before != null ? '&before=' + before : '')), draw);
    }
  }
  /* Where the medicine comes from: the hospital pharmacy gets the approved
   * prescription from ihos; once it has it, the choice stands. */
  const WHERE = { hospital: '医院药房自取', delivery: '配送到家' };
  function dispensing(box, x) {
    const fixed = x.status !== 'issued' && x.status !== 'approved' || (x.dispensing === 'hospital' && x.status === 'approved');
    if (fixed) return WHERE[x.dispensing] || '—';
    const sel = h('select', { class: 'dispensing', data: { rx: x.id } },
      h('option', { value: '' }, '请选择'), Object.entries(WHERE).map(([v, l]) => h('option', { value: v, selected: x.dispensing === v }, l)));
    sel.addEventListener('change', () => sel.value && act(box, () => api('POST', `/api/v1/prescriptions/${x.id}/dispensing`, { dispensing: sel.value }),
      () => sel.replaceWith(h('span', { class: 'ok' }, `${WHERE[sel.value]}（已保存）`))));
    return sel;
  }
  function payButton(box, x) {
    const slot = h('span', { class: 'pay', data: { rx: x.id } });
    slot.appendChild(btn('去支付', () => act(box, async () => {
      const r = await api('POST', `/api/v1/visits/${x.visit_id}/payments`, { channel: 'wechat', prescription_id: x.id });
      const p = r.payment;
      clear(slot);
      const state = h('span', { class: 'pay-state', data: { order: p.order_no } }, `订单 ${p.order_no}：${PAY[p.state] || p.state}`);
      slot.append(state, btn('刷新支付状态', () => act(box, async () => {
        const q = await api('GET', `/api/v1/payments/${p.id}`);
        state.textContent = `订单 ${p.order_no}：${PAY[q.state] || q.state}`;
      })));
    }), 'primary'));
    return slot;
  }

  async function profile(m) {
    const box = card('我的信息');
    box.id = 'profile';
    m.appendChild(box);
    const p = await act(box, () => api('GET', '/api/v1/me/patient'));
    if (!p) return;
    box.appendChild(h('dl', {}, h('dt', {}, '姓名'), h('dd', { id: 'my-name' }, p.name), h('dt', {}, '证件'), h('dd', {}, `${p.cert_type_name} ${p.cert_no}`),
      h('dt', {}, '手机'), h('dd', {}, p.phone), h('dt', {}, '实名核验'), h('dd', {}, p.realname === 'verified' ? '已核验' : '未核验'),
      h('dt', {}, '过敏史'), h('dd', {}, p.allergies || '无')));
    box.appendChild(h('p', {}, '已同意：', (p.consents || []).map(c => `${c.document === 'privacy' ? '隐私政策' : '用户协议'}（${c.version}）`).join('、')));
    const edit = form([{ name: 'allergies', label: '过敏史（医生开药前会看到）', type: 'textarea', value: p.allergies || '' },
      { name: 'address', label: '地址（配送用）', value: p.address || '' }], '保存', async b => {
      await api('PATCH', '/api/v1/me/patient', b);
      show(profile);
    });
    edit.id = 'profile-edit';
    box.appendChild(edit);
    const res = card('我的检查检验结果');
    res.id = 'my-results';
    m.appendChild(res);
    const rr = await act(res, () => api('GET', '/api/v1/me/results'));
    if (rr) res.appendChild(rr.results.length ? h('div', {}, rr.results.map(x => h('div', { class: 'result' },
      h('h3', {}, `${x.title} · ${x.observed_at ? x.observed_at.replace('T', ' ') : time(x.received_at)}`),
      table(x.observations, [['项目', o => o.name || o.code], ['结果', o => o.value], ['单位', o => o.units], ['参考', o => o.range]]))))
      : h('p', { class: 'empty' }, '暂无检查检验结果'));
    await prescriptions(m, null);
  }

  /* ---- registration (before login) ---- */
  function register(rootEl, back) {
    clear(rootEl);
    const box = h('section', { class: 'card login', id: 'register' }, h('h1', {}, '患者实名注册'));
    box.appendChild(form([
      { name: 'username', label: '用户名', autocomplete: 'username' }, { name: 'password', label: '密码（至少12位）', type: 'password', autocomplete: 'new-password' },
      { name: 'name', label: '姓名（与证件一致）' }, { name: 'cert_type', label: '证件类型', type: 'select', options: [['1', '居民身份证']] },
      { name: 'cert_no', label: '证件号码' }, { name: 'sex', label: '性别', type: 'select', options: [['1', '男'], ['2', '女']] },
      { name: 'birth_date', label: '出生日期', type: 'date' }, { name: 'phone', label: '手机号', inputmode: 'tel' },
      { name: 'privacy', label: '我已阅读并同意《隐私政策》，同意为诊疗处理我的个人信息', type: 'checkbox' },
      { name: 'agreement', label: '我已阅读并同意《用户协议》', type: 'checkbox' },
    ], '获取短信验证码', async b => {
      const pub = await api('GET', '/api/v1/public');
      if (!b.privacy || !b.agreement) throw new IH.ApiError(0, 'consent', '注册需要同意隐私政策和用户协议。', b.privacy ? 'agreement' : 'privacy');
      const body = Object.assign({}, b, { consents: pub.consent_versions });
      delete body.privacy; delete body.agreement;
      const r = await api('POST', '/api/v1/patients', body);
      clear(box);
      box.append(h('h1', {}, '输入短信验证码'), h('p', {}, '验证码已发送到您的手机。'));
      box.appendChild(form([{ name: 'code', label: '短信验证码', inputmode: 'numeric' }], '完成注册', async c => {
        await api('POST', '/api/v1/patients/verify', { registration: r.registration, code: c.code });
        back('注册完成，请登录。');
      }));
    }));
    box.appendChild(h('p', {}, btn('返回登录', () => back())));
    rootEl.appendChild(box);
  }

  function ready(me) {
    clear(root);
    if (me.role !== 'patient') { root.appendChild(h('section', { class: 'card' }, h('p', {}, '医护人员请使用工作台：'), h('a', { href: '/app/' }, '/app/'))); return; }
    const screens = [['排班预约', schedule], ['我的问诊', visits], ['我的', profile]];
    tabs = h('nav', { class: 'tabs' }, screens.map(([label, fn]) => {
      const a = h('a', { href: '#', data: { screen: fn.name } }, label);
      a.addEventListener('click', ev => { ev.preventDefault(); show(fn); });
      return a;
    }));
    main = h('main', { id: 'main' });
    root.append(h('header', {}, h('strong', { class: 'brand' }, '互联网医院'), h('span', { id: 'who' }, me.username),
      h('span', { class: 'live-dot', title: '实时更新' }, '●'), h('span', { id: 'idle', class: 'idle' }), btn('退出', () => IH.logout(), 'logout')), main, tabs);
    show(visits);
  }

  const opts = { title: '互联网医院 · 患者登录', patient: true, ready };
  const regLink = () => h('p', {}, '还没有账号？', btn('实名注册', () => register(root, notice => IH.boot(root, Object.assign({}, opts, { notice })))));
  opts.extra = null;
  Object.defineProperty(opts, 'extra', { get: regLink });
  IH.boot(root, opts);
})();
