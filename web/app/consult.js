/* consult.js — remote care between institutions in the staff console
 * (care/consult.h on the server): the system administrator's cooperation
 * agreements; the doctor's requests, the medical office's approvals, the
 * invited experts' material, report and signatures, the requester's
 * decision.  app.js hands in what it shares (sections, navigation, the
 * study viewer) through IHCONSULT.screens(ctx). */
'use strict';
const IHCONSULT = (() => {
  const { h, time, api, act, form, table, btn, flash } = IH;
  const TYPES = [['consult', '远程会诊'], ['mdt', '多学科远程会诊'], ['outpatient', '远程门诊'], ['imaging', '远程影像诊断'],
                 ['ecg', '远程心电诊断'], ['pathology', '远程病理诊断']];
  const TYPE = Object.fromEntries(TYPES);
  const STATUS = { draft: '草稿', submitted: '待医务审批', approved: '待受邀方接受', accepted: '已接受', rejected: '已拒绝',
                   scheduled: '已排期', in_session: '会诊中', report_drafted: '报告待签名', signed: '已签名', returned: '报告已发回',
                   acknowledged: '已处理', closed: '已结束', cancelled: '已撤销' };
  const MATERIAL = { study: '影像检查', ecg: '心电图', record: '病历', result: '检验检查结果' };
  let C; /* what app.js shares */

  /* ---- the system administrator's agreements ---- */
  async function agreements(m) {
    const box = C.section('远程医疗合作协议');
    box.id = 'agreements';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/agreements'));
    if (r) box.appendChild(table(r.agreements, [['合作机构', a => a.partner], ['机构代码', a => a.partner_organ_id],
      ['协议编号', a => a.document_no], ['服务', a => a.services.map(s => TYPE[s] || s).join('、')],
      ['有效期', a => `${a.valid_from} 至 ${a.valid_to}`], ['状态', a => a.revoked_at ? '已终止' : a.valid ? '有效' : '不在有效期'],
      ['', a => a.revoked_at ? '' : btn('终止', () => act(box, () => api('POST', `/api/v1/agreements/${a.id}/revoke`), () => C.show(agreements)))]],
      '尚无协议'));
    const f = form([{ name: 'partner', label: '合作机构名称' }, { name: 'partner_organ_id', label: '合作机构统一社会信用代码' },
      { name: 'document_no', label: '协议编号' }, ...TYPES.map(([k, l]) => ({ name: 'svc_' + k, label: l, type: 'checkbox' })),
      { name: 'valid_from', label: '生效日期', type: 'date' }, { name: 'valid_to', label: '终止日期', type: 'date' }],
    '登记协议', async b => {
      const body = { partner: b.partner, partner_organ_id: b.partner_organ_id, document_no: b.document_no,
                     services: TYPES.map(t => t[0]).filter(k => b['svc_' + k]), valid_from: b.valid_from, valid_to: b.valid_to };
      await api('POST', '/api/v1/agreements', body);
      C.show(agreements);
    });
    f.id = 'agreement';
    box.appendChild(f);
  }

  /* ---- the doctor's list ---- */
  async function consults(m) {
    const box = C.section('远程会诊');
    box.id = 'consults';
    m.appendChild(box);
    const r = await act(box, () => api('GET', '/api/v1/consults'));
    if (r) box.appendChild(table(r.consults, [['编号', x => 'RC' + x.id], ['类型', x => x.type_name || TYPE[x.type]],
      ['状态', x => STATUS[x.status] || x.status], ['我的角色', x => x.mine ? '申请方' : '受邀/审批'],
      ['拟定时间', x => time(x.proposed_at)], ['', x => btn('打开', () => C.show(consult, x.id), 'primary')]], '暂无远程会诊'));
  }

  /* ---- a new request from a visit ---- */
  async function consultNew(m, v) {
    const box = C.section('申请远程会诊');
    box.id = 'consult-new';
    m.appendChild(box);
    const [ag, deps, ord, rec] = await Promise.all([api('GET', '/api/v1/agreements'), api('GET', '/api/v1/departments'),
      api('GET', `/api/v1/visits/${v.id}/orders`), api('GET', `/api/v1/visits/${v.id}/records`)].map(p => p.catch(e => { flash(box, e.message); return null; })));
    if (!ag || !deps || !ord) return;
    const valid = ag.agreements.filter(a => a.valid);
    if (!valid.length) { box.appendChild(h('p', { class: 'warn' }, '没有有效的远程医疗合作协议，不能申请。')); return; }
    const mats = [];
    for (const o of ord.orders.filter(o => o.study_uid)) mats.push([o.modality === 'ECG' ? 'ecg' : 'study', o.id, `${o.modality} ${o.name}（${o.accession}）`]);
    for (const x of (rec && rec.records) || []) mats.push(['record', x.id, `病历 第${x.revision}版（${time(x.created_at)}）`]);
    /* the experts come a department at a time (the server lists at most 200
     * doctors, a large hospital has more); choosing another redraws the form
     * with what was already entered */
    const dept = h('select', { id: 'consult-dept' }, h('option', { value: '' }, '全部科室'),
      deps.departments.filter(d => d.active).map(d => h('option', { value: String(d.id) }, d.name)));
    box.appendChild(h('div', { class: 'form inline' }, h('label', { for: 'consult-dept' }, h('span', {}, '专家所在科室'), dept)));
    let f = null;
    const draw = async () => {
      const ex = await act(box, () => api('GET', '/api/v1/consult-experts' + (dept.value ? '?dept_id=' + dept.value : '')));
      if (!ex) return;
      const val = IH.kept(f);
      const nf = form([
        { name: 'agreement_id', label: '合作协议', type: 'select', value: val('agreement_id'), options: valid.map(a => [String(a.id), `${a.partner}（${a.document_no}）`]) },
        { name: 'type', label: '类型', type: 'select', value: val('type'), options: TYPES },
        { name: 'lead', label: '主会诊专家', type: 'select', value: val('lead'), options: ex.experts.map(d => [String(d.id), `${d.name} ${d.title_name || ''}`]) },
        ...ex.experts.map(d => ({ name: 'ex_' + d.id, label: `MDT 其他专家：${d.name}`, type: 'checkbox', value: val('ex_' + d.id, false) })),
        { name: 'reason', label: '会诊原因', type: 'textarea', rows: 2, value: val('reason') }, { name: 'purpose', label: '会诊目的', type: 'textarea', rows: 2, value: val('purpose') },
        { name: 'summary', label: '病历摘要', type: 'textarea', rows: 4, value: val('summary', v.complaint) },
        { name: 'qualifications', label: '对专家的资质要求', value: val('qualifications') },
        { name: 'proposed_at', label: '拟定会诊时间', type: 'datetime-local', value: val('proposed_at') },
        { name: 'consent_by', label: '知情同意', type: 'select', value: val('consent_by'), options: [['patient', '患者本人已签署知情同意书'], ['guardian', '监护人已签署知情同意书']] },
        { name: 'guardian', label: '监护人姓名（监护人同意时）', value: val('guardian') },
        ...mats.map(([k, id, label]) => ({ name: `m_${k}_${id}`, label: `附资料：${label}`, type: 'checkbox', value: val(`m_${k}_${id}`, true) })),
      ], '保存草稿', async b => {
        const extra = ex.experts.filter(d => b['ex_' + d.id] && String(d.id) !== b.lead).map(d => d.id);
        const body = { visit_id: v.id, agreement_id: Number(b.agreement_id), type: b.type, reason: b.reason, purpose: b.purpose,
                       summary: b.summary, qualifications: b.qualifications || undefined, consent_by: b.consent_by,
                       guardian: b.consent_by === 'guardian' ? b.guardian : undefined,
                       proposed_at: b.proposed_at ? new Date(b.proposed_at).toISOString().replace(/\.\d{3}Z$/, 'Z') : '',
                       experts: [Number(b.lead), ...(b.type === 'mdt' ? extra : [])],
                       materials: mats.filter(([k, id]) => b[`m_${k}_${id}`]).map(([k, id]) => ({ kind: k, ref_id: id })) };
        const c = await api('POST', '/api/v1/consults', body);
        C.show(consult, c.id);
      });
      nf.id = 'consult-form';
      if (f) f.replaceWith(nf); else box.appendChild(nf);
      f = nf;
    };
    dept.addEventListener('change', draw);
    await draw();
  }

  /* ---- one consultation: details, material, the steps the viewer may take ---- */
  async function consult(m, id) {
    const box = C.section('远程会诊');
    box.id = 'consult';
    m.appendChild(box);
    const c = await act(box, () => api('GET', `/api/v1/consults/${id}`));
    if (!c) return;
    box.querySelector('h2').textContent = `RC${c.id} · ${c.type_name || TYPE[c.type]} · ${STATUS[c.status] || c.status}`;
    box.dataset.status = c.status;
    box.appendChild(h('dl', {},
      h('dt', {}, '会诊原因'), h('dd', {}, c.reason), h('dt', {}, '会诊目的'), h('dd', {}, c.purpose),
      h('dt', {}, '病历摘要'), h('dd', {}, c.summary), h('dt', {}, '资质要求'), h('dd', {}, c.qualifications || '—'),
      h('dt', {}, '拟定时间'), h('dd', {}, time(c.proposed_at)), h('dt', {}, '安排时间'), h('dd', {}, time(c.scheduled_at)),
      h('dt', {}, '知情同意'), h('dd', {}, c.consent_by_name || c.consent_by),
      c.reject_reason ? [h('dt', {}, '拒绝理由'), h('dd', {}, c.reject_reason)] : null));
    box.appendChild(table(c.experts, [['专家', d => d.name], ['职称', d => d.title_name], ['', d => d.lead ? '主会诊专家' : ''],
      ['签名', d => d.signed_at ? '已签名 ' + time(d.signed_at) : '未签名']]));
    if (c.report) {
      const meas = ['hr', 'pr', 'qrs', 'qt', 'qtc', 'axis'].filter(k => c[k] !== undefined && c[k] !== null).map(k => `${k.toUpperCase()} ${c[k]}`).join('  ');
      box.appendChild(h('div', { class: 'report', id: 'consult-report' }, h('h3', {}, '会诊报告'), h('p', {}, c.report), meas ? h('p', {}, meas) : null));
    }
    if (c.decision) box.appendChild(h('p', { id: 'consult-decision' }, '申请方处理意见：', c.decision));
    const acts = h('div', { class: 'row', id: 'consult-actions' });
    box.appendChild(acts);
    const step = (label, a, cls) => btn(label, () => act(box, () => api('POST', `/api/v1/consults/${id}/${a}`), () => C.show(consult, id)), cls);
    const y = c.you, s = c.status;
    if (y.requester && s === 'draft') acts.appendChild(step('提交申请', 'submit', 'primary'));
    if (y.medical_office && !y.requester && s === 'submitted') acts.appendChild(step('医务审批通过', 'approve', 'primary'));
    if (y.lead && s === 'approved') {
      acts.appendChild(step('接受会诊', 'accept', 'primary'));
      const rf = form([{ name: 'reason', label: '拒绝理由' }], '拒绝', async b => { await api('POST', `/api/v1/consults/${id}/reject`, b); C.show(consult, id); }, { inline: true });
      rf.id = 'consult-reject';
      box.appendChild(rf);
    }
    if ((y.lead || y.requester) && (s === 'accepted' || s === 'scheduled')) {
      const sf = form([{ name: 'scheduled_at', label: '会诊时间', type: 'datetime-local' }], '安排时间', async b => {
        await api('POST', `/api/v1/consults/${id}/schedule`, { scheduled_at: new Date(b.scheduled_at).toISOString().replace(/\.\d{3}Z$/, 'Z') });
        C.show(consult, id); }, { inline: true });
      sf.id = 'consult-schedule';
      box.appendChild(sf);
    }
    if ((y.lead || y.requester) && s === 'scheduled') acts.appendChild(step('开始会诊', 'start', 'primary'));
    if (y.lead && (s === 'in_session' || s === 'report_drafted')) {
      const ecg = c.type === 'ecg';
      const rf = form([{ name: 'report', label: '会诊意见', type: 'textarea', rows: 4, value: c.report },
        ...(ecg ? [['hr', '心率（次/分）'], ['pr', 'PR 间期（ms）'], ['qrs', 'QRS 时限（ms）'], ['qt', 'QT 间期（ms）'], ['qtc', 'QTc（ms）'], ['axis', '电轴（°）']]
          .map(([n, l]) => ({ name: n, label: l, type: 'number', value: c[n] })) : [])],
      '保存报告', async b => { await api('POST', `/api/v1/consults/${id}/report`, b); C.show(consult, id); });
      rf.id = 'consult-report-form';
      box.appendChild(rf);
    }
    const me = c.experts.find(d => d.you);
    if (y.expert && s === 'report_drafted' && !(me && me.signed_at)) acts.appendChild(step('签名确认报告', 'sign', 'primary'));
    if (y.lead && s === 'signed') acts.appendChild(step('发回报告', 'return', 'primary'));
    if (y.requester && s === 'returned') {
      const af = form([{ name: 'decision', label: '处理意见', type: 'textarea', rows: 2 }], '记录处理意见', async b => {
        await api('POST', `/api/v1/consults/${id}/acknowledge`, b); C.show(consult, id); });
      af.id = 'consult-decide';
      box.appendChild(af);
    }
    if (y.requester && (s === 'acknowledged' || s === 'rejected')) acts.appendChild(step('结束会诊', 'close'));
    if ((y.requester || y.medical_office) && ['draft', 'submitted', 'approved', 'accepted', 'scheduled'].includes(s)) acts.appendChild(step('撤销', 'cancel', 'danger'));

    /* the consultation's video call: its requester and invited experts, from scheduling to signature */
    const talking = ['scheduled', 'in_session', 'report_drafted', 'signed'].includes(s);
    if ((y.requester || y.expert) && talking) {
      const vc = C.section('视频会诊');
      vc.id = 'call';
      m.appendChild(vc);
      const callDraw = IHAV.mount(vc, { url: `/api/v1/consults/${id}/call`, role: y.requester ? 'doctor' : 'expert',
                                        host: y.requester || y.lead, live: talking, label: '视频会诊' });
      IH.setRefresh(m, (t, d) => { if (t === 'resync' || (t === 'call' && d.visit === c.visit_id)) callDraw(); });
    }
    /* the material: opened through ihosd, each opening journaled */
    if (y.requester || y.expert) {
      const mb = C.section('会诊资料');
      mb.id = 'consult-material';
      m.appendChild(mb);
      mb.appendChild(table(c.materials, [['资料', x => MATERIAL[x.kind] || x.kind], ['内容', x => x.title || ''],
        ['', x => btn('查看', () => open(mb, id, x), 'primary')]], '未附资料'));
    }
  }
  async function open(mb, id, x) {
    const old = mb.querySelector('.material'); if (old) old.remove();
    const view = h('div', { class: 'material' });
    mb.appendChild(view);
    const base = `/api/v1/consults/${id}/materials/${x.id}`;
    const r = await act(mb, () => api('GET', base));
    if (!r) return;
    if (r.study) C.studyView(view, r.study, base);
    else view.appendChild(h('dl', {}, Object.entries(r.item).filter(([k, v]) => typeof v === 'string' && !/_at$|^id$/.test(k))
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  }

  /* The screens app.js adds: the doctor's list, the sysadmin's agreements,
   * and the request form it opens from a visit. */
  function screens(ctx) {
    C = ctx;
    return { doctor: [['远程会诊', consults]], sysadmin: [['合作协议', agreements]], consultNew };
  }
  return { screens };
})();
