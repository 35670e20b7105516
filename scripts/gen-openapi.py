#!/usr/bin/env python3
"""gen-openapi.py — writes docs/openapi.yaml from src/api/routes.c (paths,
methods, permissions) and the descriptions and schemas below.  Run from the
repository root after changing a route; a test checks the two agree."""
import re, json
routes = re.findall(r'RF?\(IH_([A-Z]+), "([^"]*)", IH_PERM_([A-Z_]+), (?:\w+, )?(\w+)\)', open('src/api/routes.c').read())
perm_names = dict(re.findall(r'\[IH_PERM_([A-Z_]+)\] = \{"([^"]+)"', open('src/policy/perm.c').read()))
# the code tables (GET /api/v1/codes/{table}), from src/table/codes.c
code_tables = re.findall(r'TABLE\(ih_codes_\w+, "(\w+)", "([^"]+)"', open('src/table/codes.c').read())

def pname(path, i):
    segs = path.split('/')
    n = 0
    names = []
    for k, s in enumerate(segs):
        if s == '{}':
            prev = segs[k-1]
            if prev == 'roles': names.append('role')
            elif prev == 'codes': names.append('table')
            elif prev == 'permissions': names.append('perm')
            elif prev == 'assets': names.append('name')
            elif prev == 'materials': names.append('m')
            elif names: names.append('action')  # /consults/{id}/{action}
            else: names.append('id')
    # disambiguate
    return names

def oapath(path):
    names = pname(path, 0)
    out = path
    for n in names:
        out = out.replace('{}', '{' + n + '}', 1)
    return out, names

S = {}  # summaries by (method,path)
def s(m, p, summary, req=None, resp="Object", status=None, query=None, desc=None, ctype=None, also=None):
    """also: {status: schema name} of further success answers (a proposal's 202)."""
    S[(m, p)] = dict(summary=summary, req=req, resp=resp, status=status, query=query or [], desc=desc, ctype=ctype,
                     also=also or {})

# ---- descriptions -----------------------------------------------------------------
s("GET","/","The public 亮证 page (HTML): licence, departments, doctors on duty, schedules, response times, fees", resp="HTML")
s("GET","/about","The same public page", resp="HTML")
s("GET","/app/","The staff console (HTML; docs/console.md): login, the doctor's workbench, pharmacy, the three administrators' screens", resp="HTML")
s("GET","/h5/","The patients' pages (HTML, phone-sized; docs/console.md)", resp="HTML")
s("GET","/assets/{name}","A console asset named by its content hash (script, style, icon): cached for a year, gzip when accepted", resp="Asset")
s("GET","/app","Leads to /app/", resp="Redirect", status=302)
s("GET","/h5","Leads to /h5/", resp="Redirect", status=302)
s("GET","/login","Leads to /app/", resp="Redirect", status=302)
s("GET","/admin","Leads to /app/", resp="Redirect", status=302)
s("GET","/api/v1/public","The public information as JSON", resp="Public")
s("GET","/api/v1/codes","The code tables coded fields take (route, frequency, recipe_type → drug_class, delivery_type, cert_type, title_code → title, …)", resp="CodeTables")
s("GET","/api/v1/codes/{table}","One code table: every code with its Chinese name", resp="CodeTable")
s("GET","/healthz","Liveness: the server answers", resp="Health")
s("GET","/readyz","Readiness: the database answers too (503 unavailable otherwise; checked at most once a second). The load balancer's health check", resp="Health")
s("GET","/metrics","Prometheus metrics: the scraper's bearer token ([server] metrics_token_file) or a session with metrics.read", resp="Text")
s("POST","/api/v1/sessions","Log in: password and, where enrolled, the TOTP code", req="LoginRequest", resp="LoginResponse", status=201)
s("DELETE","/api/v1/sessions/current","Log out (ends the session on the server)", resp=None, status=204)
s("GET","/api/v1/me","The caller's account and session state (idle_seconds; csrf_token for a reloaded page)")
s("GET","/api/v1/me/results","The patient's own lab and imaging results from the hospital's LIS/RIS (HL7 ORU^R01; docs/exchange.md); the read is audited", resp="Results")
s("GET","/api/v1/patients/{id}/results","A patient's lab and imaging results from the hospital, for clinicians with a care relationship (403 otherwise, audited)", resp="Results")
s("GET","/api/v1/visits/{id}/evidence","The hospital's record of the offline first diagnosis a follow-up rests on: the HIS outpatient encounter (PV1/DG1) found when the follow-up was requested, or null; the read is audited", resp="Evidence")
s("POST","/api/v1/break-glass","Emergency access by the patient's ID number (doctor): {cert_no, reason}; the same grant, limits, audit and alert as POST /patients/{id}/break-glass; 404 when no single patient has the number", req="BreakGlassByCert", status=201)
s("GET","/api/v1/his-links","HIS patients waiting to be linked to an ihos patient (held: the name differs, or no ID number; unmatched: no ihos patient has the number), names and numbers masked", resp="HisLinks")
s("POST","/api/v1/his-links/{id}/resolve","Link a waiting HIS patient ({patient_id}: only if that patient's ID number is the one the HIS sent) or reject the link ({patient_id: null, reason})", req="HisLinkResolve")
s("GET","/api/v1/his-outbox","What ihos sends the hospital (HL7 outbox, docs/exchange.md) in one state (pending, sending, sent, dead, unknown; default dead), newest first, at most 200; the peer's answer shown; the read is audited", resp="HisOutbox", query=["state"])
s("POST","/api/v1/his-outbox/{id}/retry","Send a refused (dead) message again, with the same MSH-10 (audited); 409 for any other state, and for an order's placing once that order is cancelled", resp="HisOutboxMessage")
s("POST","/api/v1/visits/{id}/orders","The treating doctor orders a lab test or imaging study in an accepted visit; it goes to the LIS/RIS in the same transaction (OML^O21 / OMG^O19 / ORM^O01); imaging gets an accession number", req="OrderCreate", resp="Order", status=201)
s("POST","/api/v1/orders/{id}/cancel","The treating doctor withdraws an order still placed (no study arrived): the reason (2–200 characters) sealed in the order, the same message again with ORC-1 CA to the peers that had the order (its placing not dead), an imaging order off the worklist; 409 once imaged, resulted or cancelled", req="Reason", resp="Order")
s("GET","/api/v1/visits/{id}/orders","A visit's lab and imaging orders, for those who may see the visit (audited)", resp="Orders")
s("POST","/api/v1/prescriptions/{id}/dispensing","The patient chooses where the medicine comes from (hospital pharmacy or delivery) while the prescription is issued or approved; an approved one for the hospital goes to its pharmacy (RDE^O11), after which the choice stands (409)", req="Dispensing", resp="Prescription")
s("GET","/api/v1/agreements","Cooperation agreements with partner institutions for remote care, each with `valid` today (sysadmin and doctors; audited)", resp="Agreements")
s("POST","/api/v1/agreements","Record a cooperation agreement: partner, its organisation code, the agreement's number, the remote care types it covers, validity (audited)", req="AgreementCreate", resp="Agreement", status=201)
s("POST","/api/v1/agreements/{id}/revoke","End an agreement early; requests under it can no longer be submitted or approved (audited)", resp="Agreement")
s("GET","/api/v1/consult-experts","Doctors who may be invited to a remote consultation: the first 200, or of one department (dept_id)", resp="Experts", query=["dept_id"])
s("POST","/api/v1/consults","The treating doctor drafts a remote care request for a visit's patient: agreement, type, reason, purpose, summary, qualifications, proposed time, informed consent (patient or guardian), experts (the first leads; MDT 2-8), material (studies, ECGs, records, results of this patient); docs/remote-care.md", req="ConsultCreate", resp="Consult", status=201)
s("GET","/api/v1/consults","The caller's remote consultations as requester or expert, and for the medical office those waiting for approval (clinical text left out; audited)", resp="Consults")
s("GET","/api/v1/consults/{id}","One consultation with its experts (signed or not), material and the caller's part in it (audited)", resp="Consult")
s("POST","/api/v1/consults/{id}/{action}","One step: submit, approve (medical office), accept / reject {reason} (lead expert), schedule {scheduled_at}, start, report {report, hr, pr, qrs, qt, qtc, axis} (lead expert), sign (each expert, full session; SM2 in gm), return (to the HIS: MDM^T02 / ORU^R01), acknowledge {decision}, close, cancel; any other transition 409, audited", req="Object", resp="Consult")
s("GET","/api/v1/consults/{id}/materials/{m}","Open attached material (audited consult.material_open): a record or result as it is, a study or ECG with its series from the PACS; experts only from approval until the consultation closes", resp="ConsultMaterial")
s("GET","/api/v1/consults/{id}/materials/{m}/image","One instance of an attached study rendered by the PACS, checked per request", resp="Image", query=["series","instance"])
s("GET","/api/v1/consults/{id}/materials/{m}/pyramid","An attached whole slide's pyramid (Orthanc WSI): its levels and tile size", resp="Pyramid", query=["series"])
s("GET","/api/v1/consults/{id}/materials/{m}/tile","One tile of an attached whole slide (JPEG), checked per request", resp="Image", query=["series","level","x","y"])
s("GET","/api/v1/orders/{id}/pyramid","A whole slide (pathology, modality SM) of the order's study: its levels and tile size, through ihosd", resp="Pyramid", query=["series"])
s("GET","/api/v1/orders/{id}/tile","One tile of the order's whole slide (JPEG), checked per request", resp="Image", query=["series","level","x","y"])
s("GET","/api/v1/consults/{id}/materials/{m}/waveform","An attached ECG's samples per lead, checked per request", resp="Waveform", query=["series","instance"])
s("POST","/api/v1/consults/{id}/call","A remote consultation's requester or lead expert opens its video call (scheduled to signed): on Janus while it answers, else on system B when there is a single expert; open at once (the consultation carries the informed consent); multi-party for an MDT", resp="Call", status=201)
s("GET","/api/v1/consults/{id}/call","A remote consultation's latest call, for its requester and experts (audited)", resp="CallOf")
s("POST","/api/v1/visits/{id}/call","The treating doctor opens a video call in an accepted visit (or gets the one open): on Janus while it answers its health check, else on system B; the patient is invited (docs/remote-care.md)", resp="Call", status=201)
s("GET","/api/v1/visits/{id}/call","The visit's latest call ({call: null} when none), for those who may see the visit (audited)", resp="CallOf")
s("POST","/api/v1/calls/{id}/consent","The visit's patient consents to the call (or refuses it, which ends it); recording needs its own consent", req="CallConsent", resp="Call")
s("POST","/api/v1/calls/{id}/join","A participant (the visit's patient or treating doctor) of an open, consented call gets what their browser needs: Janus's URL, a signed token, the room and PIN, and/or TURN credentials; audited; when Janus is down the call moves to system B first", resp="CallGrant")
s("POST","/api/v1/calls/{id}/fallback","A participant lost Janus: after a fresh health check confirms it is down, the call moves to system B (audited call.switch) and the participant's B credentials come back; 409 while Janus answers", resp="CallGrant")
s("GET","/api/v1/recordings/{id}","The visit's treating doctor plays a call's recording (audio/ogg or video/webm), opened from its sealed file (audited call.recording_open)", resp="Asset")
s("POST","/api/v1/calls/{id}/leave","A participant left the call (audited)", resp=None, status=204)
s("POST","/api/v1/calls/{id}/end","The treating doctor ends the call: its Janus room is destroyed, the visit gets its media record (video, start and end)", resp="Call")
s("POST","/api/v1/calls/{id}/signals","System B: an offer, answer, hello or bye (SDP in data, sealed) to the other participant", req="CallSignal", resp="Created", status=201)
s("GET","/api/v1/calls/{id}/signals","System B: the other participant's signals after id `after` (audited)", resp="CallSignals", query=["after"])
s("GET","/api/v1/orders/{id}/study","An imaging order's study in the hospital's PACS (Orthanc, QIDO-RS through ihosd): its series and instances; the care relationship and label checked, the opening audited (pacs.study_open); 404 until the study arrived, 503 without a PACS", resp="Study")
s("GET","/api/v1/orders/{id}/image","One instance of the order's study rendered by the PACS (WADO-RS /rendered, JPEG), checked per request", resp="Image", query=["series","instance"])
s("GET","/api/v1/orders/{id}/waveform","A DICOM waveform (12-lead ECG) of the order's study as samples in microvolts per lead, checked per request", resp="Waveform", query=["series","instance"])
s("GET","/api/v1/events","Live updates as Server-Sent Events: events visit, message, rx, account with ids only (never personal text); checked passively (not activity), ends with the session; at most [web] streams_per_account per account (503 busy)", resp="Events")
s("POST","/api/v1/me/password","Change the password", req="PasswordChange", resp=None, status=204)
s("POST","/api/v1/me/totp","Start second-factor enrolment: a new secret as an otpauth URI. Needs the password, and a code from the enrolled authenticator when replacing it", req="TotpBegin", status=201)
s("POST","/api/v1/me/totp/confirm","Confirm enrolment with a code", req="TotpConfirm", resp=None, status=204)
s("GET","/api/v1/me/sessions","The caller's sessions", resp="Sessions")
s("DELETE","/api/v1/me/sessions/{id}","End one of the caller's sessions", resp=None, status=204)
s("GET","/api/v1/accounts","List accounts (status: pending, active or disabled; role: up to three role names, comma-separated), oldest first or newest first (order=newest, before=)", resp="AccountList", query=["status","role","order","after","before","limit"])
s("POST","/api/v1/accounts","Create a staff or administrator account (pending until secadmin activates it)", req="AccountCreate", status=201)
s("GET","/api/v1/accounts/{id}","One account", resp="Account")
s("POST","/api/v1/accounts/{id}/activate","Activate a pending account")
s("PUT","/api/v1/accounts/{id}/role","Propose a clinical role change (202): it takes effect when another administrator approves it", req="RoleChange", resp="Proposed", status=202)
s("POST","/api/v1/accounts/{id}/disable","Disable an account", req="Reason")
s("POST","/api/v1/accounts/{id}/enable","Enable an account", req="Reason")
s("PUT","/api/v1/accounts/{id}/expiry","Set an expiry date", req="Expiry")
s("POST","/api/v1/accounts/{id}/password-reset","Reset a staff account to a one-time password (patients reset their own: 403)")
s("POST","/api/v1/accounts/{id}/unlock","Unlock after failed logins")
s("POST","/api/v1/accounts/{id}/totp-reset","Reset the second factor")
s("POST","/api/v1/admin-accounts/{id}/disable","Disable an administrator account", req="Reason")
s("POST","/api/v1/admin-accounts/{id}/enable","Enable an administrator account", req="Reason")
s("GET","/api/v1/permissions","Permissions by role, with bounds and which are optional")
s("PUT","/api/v1/roles/{role}/permissions/{perm}","Grant or revoke an optional permission within its bounds. Granting one that reaches personal data, or taking anything from the auditor, is only proposed (202): another administrator decides", req="Grant", also={202: "Proposed"})
s("GET","/api/v1/approvals","Changes proposed by one administrator for another to decide (?pending=true)")
s("POST","/api/v1/approvals/{id}","Approve (the change takes effect) or reject a proposed change: never the proposer, never the security administrator", req="Decision", resp="Decided")
s("GET","/api/v1/audit/events","Query the audit journal: {events, next_after} oldest first, {events, next_before} with order=newest. When not null, it is where the next page starts (ask again with after= / before= it)", query=["from","to","actor","actor_username","action","object_type","object_id","outcome","order","after","before","limit"],
  desc="A query by actor or object goes through the journal's index on it. One by neither (action, outcome or time alone) looks through at most 5,000,000 events per request, so that none outlasts a proxy's timeout on a journal of years: its page may hold fewer events than limit, or none, and still have a next_after.")
s("GET","/api/v1/audit/checkpoints","Signed checkpoints by size: {checkpoints, next_after} oldest first, {checkpoints, next_before} with order=newest; when not null, where the next page starts (after= / before= it)", query=["order","after","before","limit"])
s("POST","/api/v1/audit/verify","Verify the whole journal now: a long operation, answered within ?wait= seconds or 202 with where to ask (Location; any node answers)", query=["wait"], also={202: "Operation"},
  desc="One verification at a time: a start while one runs joins it. Its outcome is audited as audit.verify.")
s("GET","/api/v1/audit/verify/runs/{id}","A verification's result (or 202 while it runs, waiting up to ?wait= seconds); the result is kept signed with the audit key and refused (integrity_error) if edited; 503 when the node running it stopped; audited as operation.read", query=["wait"], also={202: "Operation"})
s("GET","/api/v1/audit/export","Export events (JSON lines), with the filters and order of /audit/events (limit up to 100,000); when more may follow, the header X-Ihos-Next-After (X-Ihos-Next-Before, newest first) says where the next export starts", query=["from","to","actor","actor_username","action","object_type","object_id","outcome","order","after","before","limit"], resp="Text")
s("GET","/api/v1/selfcheck","The Level 3 self-check of the running instance (format ihos-selfcheck/1: summary, high-risk findings, every clause with verdict, evidence and remedy): a long operation, answered within ?wait= seconds or 202 with where to ask (Location; any node answers)", query=["wait"], also={202: "Operation"},
  desc="Runs the integrity scan and a full journal verification: minutes on a large instance, longer than a proxy waits. One at a time: a request while one runs joins it. Audited as selfcheck.run.")
s("GET","/api/v1/selfcheck/runs/{id}","A self-check's report (or 202 while it runs, waiting up to ?wait= seconds); kept signed with the audit key and refused (integrity_error) if edited; 503 when the node running it stopped; audited as operation.read", query=["wait"], also={202: "Operation"})
s("GET","/api/v1/incidents","Security incidents, newest first (security administrator): every alert opens one or counts again on the open one of its kind. {incidents, next_before}: when not null, where the next page starts (before= it)", query=["status","before","limit"])
s("GET","/api/v1/incidents/{id}","One security incident")
s("POST","/api/v1/incidents/{id}/acknowledge","Acknowledge an open incident")
s("POST","/api/v1/incidents/{id}/assign","Assign the incident to an active security administrator ({assignee_id})")
s("POST","/api/v1/incidents/{id}/resolve","Resolve the incident with its resolution ({resolution}); a breach only after its report was sent")
s("POST","/api/v1/incidents/{id}/breach","Record a personal-data breach: data_categories, people_affected, occurred_at, description, measures; the report is due 24 hours after the incident was first seen")
s("POST","/api/v1/incidents/{id}/breach/reported","Record that the breach report was sent to the authorities")
s("GET","/api/v1/incidents/{id}/breach-report","The breach report for the health authority, the cyberspace office and the police (Chinese fields); audited")
s("GET","/api/v1/backups","The cluster's backups, newest first: this node's files (here: true) and those the journal says another node made in the last 31 days (here: false, size null), each with the node whose directory holds it")
s("POST","/api/v1/backups","Take a backup now (encrypted to the recovery key): a long operation, answered (201) within ?wait= seconds or 202 with where to ask (Location; any node answers); one at a time, a request while one runs joins it", status=201, query=["wait"], also={202: "Operation"})
s("GET","/api/v1/backups/runs/{id}","A backup's result (201 with the file, or 202 while it runs, waiting up to ?wait= seconds); kept signed with the audit key and refused (integrity_error) if edited; 503 when the node running it stopped; audited as operation.read", status=201, query=["wait"], also={202: "Operation"})
s("GET","/api/v1/institution","The institution (public)", resp="Institution")
s("PUT","/api/v1/institution","Set the institution record (whole)", req="Institution", resp="Institution")
s("GET","/api/v1/departments","Active departments (public)")
s("POST","/api/v1/departments","Create a department", req="Department", status=201)
s("PATCH","/api/v1/departments/{id}","Change a department (code is fixed)", req="Department")
s("GET","/api/v1/staff","List staff (personal fields masked), of one kind (doctor, pharmacist, nurse) and department (dept_id) when asked", query=["kind","dept_id","after","limit"])
s("POST","/api/v1/staff","Create a staff record for a clinical account", req="Staff", resp="StaffView", status=201)
s("GET","/api/v1/staff/candidates","Active doctor, pharmacist and nurse accounts with no staff record yet, newest first (what a registrar may register)", resp="AccountList", query=["before","limit"])
s("GET","/api/v1/staff/{id}","One staff member", resp="StaffView")
s("PATCH","/api/v1/staff/{id}","Change a staff record", req="Staff", resp="StaffView")
s("POST","/api/v1/staff/{id}/online","Enable or disable a doctor for online care (needs >= 3 years of practice)", req="Online", resp="StaffView")
s("POST","/api/v1/staff/{id}/status","Suspend or reinstate", req="StaffStatus", resp="StaffView")
s("GET","/api/v1/me/staff","The caller's own staff record", resp="StaffView")
s("POST","/api/v1/drugs/import","Import the catalogue from CSV (per-row errors)", resp="ImportReport", ctype="text/csv")
s("GET","/api/v1/drugs","Search the catalogue", query=["q","all","after","limit"])
s("POST","/api/v1/drugs","Add a drug", req="Drug", resp="Drug", status=201)
s("GET","/api/v1/drugs/{id}","One drug", resp="Drug")
s("PATCH","/api/v1/drugs/{id}","Change a drug", req="Drug", resp="Drug")
s("GET","/api/v1/schedules","Shifts (public), not cancelled; each with open: whether it still takes requests (not over, in the hospital's local time)", query=["from","to","staff_id"])
s("POST","/api/v1/schedules","Add a shift for a doctor enabled online", req="Schedule", status=201)
s("POST","/api/v1/schedules/{id}/cancel","Cancel a shift")
s("POST","/api/v1/patients","Start registering as a patient (public, rate-limited): details checked, real name verified, a code sent by SMS to the phone given; the same answer whatever is already registered", req="Registration", resp="RegistrationStarted", status=202)
s("POST","/api/v1/patients/verify","Finish registering with the SMS code: account, patient and consents (409 naming username or cert_no only now; a taken username may be replaced here)", req="RegistrationVerify", resp="Registered", status=201)
s("POST","/api/v1/password-resets","A patient's own password reset: a code goes to the phone registered with the ID number (the same answer whether or not they match)", req="ResetStart", resp="ResetStarted", status=202)
s("POST","/api/v1/password-resets/confirm","Set the new password with the SMS code; every session of the account ends", req="ResetConfirm", resp="Object", status=200)
s("GET","/api/v1/patients","Patients the caller may see, or an exact lookup by certificate number or phone", query=["cert_no","phone","after","limit"])
s("GET","/api/v1/patients/{id}","One patient, masked for the caller's role and relationship", resp="Patient")
s("GET","/api/v1/me/patient","The caller's own patient record with consents", resp="Patient")
s("PATCH","/api/v1/me/patient","Change phone, address, allergies or guardian (identity fields are fixed)", req="Patient", resp="Patient")
s("GET","/api/v1/me/consents","Consents given, and the current versions")
s("POST","/api/v1/me/consents","Accept the current version of a document", req="Consent", status=201)
s("POST","/api/v1/patients/{id}/break-glass","Open a patient's data without a care relationship, with a real reason (audited, alerted; limited per hour, per day and by grants awaiting review: 429)", req="BreakGlass", status=201)
s("GET","/api/v1/break-glass","Break-glass grants with their reasons, for review (?pending=true: those not reviewed yet)")
s("POST","/api/v1/break-glass/{id}/review","Review a grant once: justified or not, with an optional note (sealed); an unjustified grant ends at once", req="BreakGlassReview")
s("POST","/api/v1/visits","Request a consultation or follow-up", req="VisitRequest", resp="Visit", status=201)
s("GET","/api/v1/visits","The caller's visits (a clinician's list names each patient, masked for the role): oldest first with next_after, or order=newest with next_before — where the next page starts, null at the end", resp="VisitList", query=["status","order","after","before","limit"])
s("GET","/api/v1/visits/{id}","A visit with its messages", resp="Visit", query=["after_message","limit"])
s("POST","/api/v1/visits/{id}/accept","Accept (a follow-up needs followup_confirmed)", req="Accept", resp="Visit")
s("POST","/api/v1/visits/{id}/refuse","Refuse with a reason", req="Reason", resp="Visit")
s("POST","/api/v1/visits/{id}/close","Close an accepted visit; its video call, if still inviting or open, ends with it", resp="Visit")
s("POST","/api/v1/visits/{id}/cancel","Cancel a request (patient)", resp="Visit")
s("PUT","/api/v1/visits/{id}/label","Change the security label", req="Label")
s("POST","/api/v1/visits/{id}/messages","Write a message in an accepted visit", req="Message", status=201)
s("POST","/api/v1/visits/{id}/media","Record a phone or video session run by an outside system", req="Media", status=201)
s("POST","/api/v1/visits/{id}/records","Add a signed medical-record revision", req="Record", resp="RecordView", status=201)
s("GET","/api/v1/visits/{id}/records","Every revision of the visit's record", resp="RecordList")
s("POST","/api/v1/visits/{id}/prescriptions","Issue a signed prescription (the treating doctor, a full 2FA session)", req="PrescriptionIssue", resp="Prescription", status=201)
s("POST","/api/v1/visits/{id}/payments","Order the payment of the visit's fee or an approved prescription (the patient); the channel's answer comes back as \"pay\"; asking again returns the same pending order", req="PaymentOrder", resp="PaymentOrdered", status=201)
s("POST","/api/v1/payments/notify","The payment channel's signed notification (paid, refunded): nothing changes unless its signature verifies; repeated ones change nothing", req="PaymentNotification", resp="NotifyAck")
s("GET","/api/v1/payments/{id}","One payment order (its patient, or the system administrator)", resp="PaymentView")
s("POST","/api/v1/payments/{id}/refund","Refund a payment for a service not given (refused, expired or cancelled visit; rejected, expired or cancelled prescription) through the channel: refunding until its notification", req="Refund", resp="PaymentView")
s("POST","/api/v1/visits/{id}/evaluation","Evaluate a closed visit", req="Evaluation", status=201)
s("GET","/api/v1/prescriptions","The caller's prescriptions — of one visit with visit_id — or a pharmacist's review queue (status=issued): {prescriptions, next_after}, or next_before with order=newest", query=["status","visit_id","order","after","before","limit"])
s("GET","/api/v1/prescriptions/{id}","One prescription", resp="Prescription")
s("POST","/api/v1/prescriptions/{id}/review","Approve or reject, signed by the pharmacist", req="Review", resp="Prescription")
s("POST","/api/v1/prescriptions/{id}/dispense","Dispense or deliver an approved prescription", req="Dispense", resp="Prescription")
s("POST","/api/v1/prescriptions/{id}/cancel","Cancel before review (the prescribing doctor)", resp="Prescription")
s("POST","/api/v1/adverse-events","Report an adverse event", req="AdverseEvent", status=201)
s("GET","/api/v1/adverse-events","The caller's reports")
s("POST","/api/v1/icd/import","Load ICD-10 codes from CSV (code,name)", resp="ImportReport", ctype="text/csv")
s("GET","/api/v1/icd","Search ICD-10 codes", query=["q","limit"])
s("POST","/api/v1/stats-requests","Ask for the approved 统方 statistics report", req="StatsRequest", status=201)
s("GET","/api/v1/stats-requests","Statistics requests (own; all for the approver)")
s("POST","/api/v1/stats-requests/{id}/decision","Approve or reject (a second person)", req="StatsDecision")
s("POST","/api/v1/stats-requests/{id}/run","Run an approved request once")

Q = {"before": ("integer","rows before this id"), "after": ("integer","rows after this id"), "limit": ("integer","page size"), "q": ("string","search text"),
     "all": ("integer","1: include inactive"), "from": ("string","YYYY-MM-DD (audit: ISO time)"), "to": ("string","YYYY-MM-DD (audit: ISO time)"),
     "staff_id": ("integer","one doctor"), "cert_no": ("string","certificate number (exact, blind index)"),
     "phone": ("string","phone (exact, blind index)"), "status": ("string","filter by state"),
     "after_message": ("integer","messages after this id"), "level": ("integer","pyramid level (0 the finest)"), "x": ("integer","tile column"), "y": ("integer","tile row"), "actor": ("integer","actor account id"), "actor_username": ("string","actor by username (instead of actor)"),
     "action": ("string","action"), "object_type": ("string","object type"), "object_id": ("string","object id"),
     "outcome": ("string","success or failure"), "state": ("string","delivery state: pending, sending, sent, dead, unknown"),
     "series": ("string","series instance UID"), "instance": ("string","SOP instance UID"),
     "wait": ("integer","seconds to wait for a long operation's result, 0-50 (default 50); then 202 while it runs"),
     "order": ("string","oldest (default) or newest first"), "visit_id": ("integer","one visit's"), "dept_id": ("integer","one department's"), "role": ("string","role names, comma-separated (up to three)"), "kind": ("string","doctor, pharmacist or nurse")}

lines = []
w = lines.append
w("# OpenAPI description of the ihos JSON API.  tests/integration/test_foundation.py")
w("# checks that every route in src/api/routes.c is here with its method.")
w("openapi: 3.0.3")
w("info:")
w("  title: ihos")
w("  version: 0.1.0")
w("  description: |")
w("    The internet-hospital server's API.  HTTPS only.  Authenticate with")
w("    `Authorization: Bearer <token>` (from POST /api/v1/sessions) or the")
w("    `ihos_session` cookie plus `X-CSRF-Token` on state changes.  Every error")
w("    is the envelope `{\"error\":{\"code\",\"message\"[,\"field\"]}}` with a stable code")
w("    (docs/ARCHITECTURE.md, Errors).  Each operation names the permission it")
w("    needs (`x-ihos-permission`); the default is deny.  Personal fields in")
w("    responses are masked for the caller's role and relationship")
w("    (docs/data-protection.md, Masking); hidden fields are left out.")
w("servers:")
w("  - url: https://127.0.0.1:8443")
w("components:")
w("  securitySchemes:")
w("    bearer: {type: http, scheme: bearer}")
w("    cookie: {type: apiKey, in: cookie, name: ihos_session}")
w("  responses:")
for code, st, d in [("Error400","400","invalid_field, malformed_json, bad_request, weak_password"),("Error401","401","unauthenticated, session_expired, authentication_failed"),
                    ("Error403","403","forbidden (audited as access.denied), csrf_failed, password_change_required"),("Error404","404","not_found"),
                    ("Error409","409","invalid_state (an illegal transition), already_exists, conflict"),("Error429","429","rate_limited"),
                    ("Error503","503","busy, unavailable, audit_unavailable")]:
    w("    %s:" % code)
    w("      description: %s" % d)
    w("      content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}")
w("  schemas:")
schemas = {
 "Error": {"type":"object","required":["error"],"properties":{"error":{"type":"object","required":["code","message"],"properties":{"code":{"type":"string","example":"invalid_field"},"message":{"type":"string"},"field":{"type":"string"}}}}},
 "Object": {"type":"object","additionalProperties":True},
 "Health": {"type":"object","properties":{"status":{"type":"string","example":"ok"}}},
 "Results": {"type":"object","required":["results"],"properties":{"results":{"type":"array","items":{"type":"object","required":["id","kind","title","observations","received_at"],"properties":{"id":{"type":"integer"},"kind":{"type":"string","enum":["lab","imaging"]},"title":{"type":"string"},"order_no":{"type":["string","null"]},"order_id":{"type":["integer","null"],"description":"the ihos order it answers (OBR-2 placer IHO<id>, the same patient)"},"observed_at":{"type":["string","null"]},"received_at":{"type":"string","format":"date-time"},"observations":{"type":"array","items":{"type":"object","properties":{"code":{"type":"string"},"name":{"type":"string"},"value":{"type":"string"},"units":{"type":"string"},"range":{"type":"string"},"flag":{"type":"string"},"status":{"type":"string"},"value_type":{"type":"string"}}}}}}}}},
 "HisLinks": {"type":"object","required":["links"],"properties":{"links":{"type":"array","items":{"type":"object","required":["id","peer","mrn","status"],"properties":{"id":{"type":"integer"},"peer":{"type":"string"},"mrn":{"type":"string"},"status":{"type":"string","enum":["held","unmatched","linked","rejected","merged"]},"reason":{"type":["string","null"]},"name":{"type":["string","null"]},"cert_no":{"type":["string","null"]},"patient_id":{"type":["integer","null"]}}}}}},
 "Evidence": {"type":"object","required":["encounter"],"properties":{"encounter":{"type":["object","null"],"properties":{"visit_no":{"type":"string"},"department":{"type":["string","null"]},"doctor":{"type":["string","null"]},"encounter_at":{"type":"string"},"diagnoses":{"type":"array","items":{"type":"object","properties":{"code":{"type":"string"},"name":{"type":"string"}}}}}}}},
 "BreakGlassByCert": {"type":"object","required":["cert_no","reason"],"properties":{"cert_no":{"type":"string"},"reason":{"type":"string","minLength":10}}},
 "HisOutboxMessage": {"type":"object","required":["id","peer","type","control_id","object","state","attempts"],"properties":{"id":{"type":"integer"},"peer":{"type":"string"},"type":{"type":"string","example":"OML^O21"},"control_id":{"type":"string"},"object":{"type":"string","example":"order-12"},"state":{"type":"string","enum":["pending","sending","sent","dead","unknown"]},"attempts":{"type":"integer"},"ack_code":{"type":["string","null"]},"error_code":{"type":["string","null"],"description":"the peer's ERR-3 code"},"detail":{"type":["string","null"],"description":"ihos's own delivery error; never the peer's text"},"created_at":{"type":"integer"},"sent_at":{"type":["integer","null"]}}},
 "HisOutbox": {"type":"object","required":["messages"],"properties":{"messages":{"type":"array","items":{"$ref":"#/components/schemas/HisOutboxMessage"}}}},
 "OrderCreate": {"type":"object","required":["kind","code","name"],"properties":{"kind":{"type":"string","enum":["lab","imaging"]},"code":{"type":"string","maxLength":32},"name":{"type":"string","maxLength":64},"note":{"type":"string","maxLength":500},"modality":{"type":"string","enum":["CT","MR","DX","CR","US","MG","NM","PT","XA","RF","ECG"]}}},
 "Order": {"type":"object","required":["id","visit_id","kind","order_no","code","name","status"],"properties":{"id":{"type":"integer"},"visit_id":{"type":"integer"},"kind":{"type":"string"},"order_no":{"type":"string"},"accession":{"type":["string","null"]},"modality":{"type":["string","null"]},"code":{"type":"string"},"name":{"type":"string"},"note":{"type":["string","null"]},"status":{"type":"string","enum":["placed","imaged","resulted","cancelled"]},"created_at":{"type":"integer"},"study_uid":{"type":["string","null"]},"cancel_reason":{"type":["string","null"]},"cancelled_at":{"type":["integer","null"]},"result_ids":{"type":"array","items":{"type":"integer"},"description":"the results that answer it (in a visit's order list)"}}},
 "AgreementCreate": {"type":"object","required":["partner","partner_organ_id","document_no","services","valid_from","valid_to"],"properties":{"partner":{"type":"string","maxLength":64},"partner_organ_id":{"type":"string"},"document_no":{"type":"string"},"services":{"type":"array","items":{"type":"string","enum":["consult","ecg","imaging","mdt","outpatient","pathology"]}},"valid_from":{"type":"string","format":"date"},"valid_to":{"type":"string","format":"date"}}},
 "Agreement": {"type":"object","properties":{"id":{"type":"integer"},"partner":{"type":"string"},"partner_organ_id":{"type":"string"},"document_no":{"type":"string"},"services":{"type":"array","items":{"type":"string"}},"valid_from":{"type":"string"},"valid_to":{"type":"string"},"valid":{"type":"boolean"},"revoked_at":{"type":["string","null"]}}},
 "Agreements": {"type":"object","required":["agreements"],"properties":{"agreements":{"type":"array","items":{"$ref":"#/components/schemas/Agreement"}}}},
 "Experts": {"type":"object","required":["experts"],"properties":{"experts":{"type":"array","items":{"type":"object"}}}},
 "ConsultCreate": {"type":"object","required":["visit_id","agreement_id","type","reason","purpose","summary","proposed_at","consent_by","experts"],"properties":{"visit_id":{"type":"integer"},"agreement_id":{"type":"integer"},"type":{"type":"string","enum":["consult","ecg","imaging","mdt","outpatient","pathology"]},"reason":{"type":"string","maxLength":500},"purpose":{"type":"string","maxLength":500},"summary":{"type":"string","maxLength":4000},"qualifications":{"type":"string","maxLength":200},"proposed_at":{"type":"string","format":"date-time"},"consent_by":{"type":"string","enum":["patient","guardian"]},"guardian":{"type":"string"},"experts":{"type":"array","items":{"type":"integer"},"description":"staff ids; the first is the lead expert"},"materials":{"type":"array","maxItems":16,"items":{"type":"object","required":["kind","ref_id"],"properties":{"kind":{"type":"string","enum":["study","ecg","record","result"]},"ref_id":{"type":"integer","description":"his_order id (study, ecg), record id, his_result id"}}}}}},
 "Consult": {"type":"object","required":["id","status","type"],"properties":{"id":{"type":"integer"},"visit_id":{"type":"integer"},"type":{"type":"string"},"status":{"type":"string","enum":["draft","submitted","approved","accepted","rejected","scheduled","in_session","report_drafted","signed","returned","acknowledged","closed","cancelled"]},"experts":{"type":"array","items":{"type":"object"}},"materials":{"type":"array","items":{"type":"object"}},"you":{"type":"object","properties":{"requester":{"type":"boolean"},"expert":{"type":"boolean"},"lead":{"type":"boolean"},"medical_office":{"type":"boolean"}}},"report":{"type":["string","null"]},"decision":{"type":["string","null"]}}},
 "Consults": {"type":"object","required":["consults"],"properties":{"consults":{"type":"array","items":{"$ref":"#/components/schemas/Consult"}}}},
 "ConsultMaterial": {"type":"object","required":["kind","item"],"properties":{"kind":{"type":"string"},"item":{"type":"object"},"study":{"$ref":"#/components/schemas/Study"}}},
 "Call": {"type":"object","required":["id","visit_id","system","state","expires_at"],"properties":{"id":{"type":"integer"},"visit_id":{"type":"integer"},"system":{"type":"string","enum":["janus","p2p"]},"state":{"type":"string","enum":["inviting","open","ended","declined"]},"expires_at":{"type":"string","format":"date-time"},"expired":{"type":"boolean"},"opened_by":{"type":"integer"},"created_at":{"type":"string","format":"date-time"},"consent_at":{"type":["string","null"],"format":"date-time"},"recording_consent":{"type":["boolean","null"]},"started_at":{"type":["string","null"],"format":"date-time"},"switched_at":{"type":["string","null"],"format":"date-time"},"switch_reason":{"type":["string","null"]},"ended_at":{"type":["string","null"],"format":"date-time"},"media_id":{"type":["integer","null"]}}},
 "CallOf": {"type":"object","required":["call"],"properties":{"call":{"oneOf":[{"$ref":"#/components/schemas/Call"},{"type":"null"}]}}},
 "CallConsent": {"type":"object","required":["consent"],"additionalProperties":False,"properties":{"consent":{"type":"boolean"},"recording":{"type":"boolean"}}},
 "CallGrant": {"type":"object","required":["call_id","system","role","expires_at","ice_servers"],"properties":{"call_id":{"type":"integer"},"system":{"type":"string","enum":["janus","p2p"]},"role":{"type":"string","enum":["doctor","patient"]},"expires_at":{"type":"string","format":"date-time"},"janus":{"type":"object","properties":{"url":{"type":"string"},"token":{"type":"string","description":"Janus signed token EXPIRY,janus,janus.plugin.videoroom:HMAC"},"room":{"type":"integer"},"pin":{"type":"string"}}},"ice_servers":{"type":"array","items":{"type":"object","properties":{"urls":{"type":"array","items":{"type":"string"}},"username":{"type":"string"},"credential":{"type":"string"}}}},"relay_only":{"type":"boolean"}}},
 "CallSignal": {"type":"object","required":["kind"],"properties":{"kind":{"type":"string","enum":["hello","offer","answer","bye"]},"data":{"type":"string","maxLength":16000}}},
 "Pyramid": {"type":"object","required":["series","levels","tile_width","tile_height"],"properties":{"series":{"type":"string"},"levels":{"type":"array","items":{"type":"object","properties":{"width":{"type":"integer"},"height":{"type":"integer"},"tiles_x":{"type":"integer"},"tiles_y":{"type":"integer"}}}},"tile_width":{"type":"integer"},"tile_height":{"type":"integer"}}},
 "Created": {"type":"object","required":["id"],"properties":{"id":{"type":"integer"}}},
 "CallSignals": {"type":"object","required":["signals"],"properties":{"signals":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"kind":{"type":"string"},"sender_role":{"type":"string"},"data":{"type":["string","null"]},"created_at":{"type":"string"}}}}}},
 "Orders": {"type":"object","required":["orders"],"properties":{"orders":{"type":"array","items":{"$ref":"#/components/schemas/Order"}}}},
 "Study": {"type":"object","required":["study_uid","series"],"properties":{"study_uid":{"type":"string"},"series":{"type":"array","items":{"type":"object","properties":{"uid":{"type":"string"},"modality":{"type":"string"},"description":{"type":"string"},"instances":{"type":"array","items":{"type":"object","properties":{"uid":{"type":"string"},"number":{"type":"string"},"sop_class":{"type":"string"},"waveform":{"type":"boolean"}}}}}}}}},
 "Waveform": {"type":"object","required":["frequency","unit","channels"],"properties":{"frequency":{"type":"number"},"unit":{"type":"string","example":"uV"},"channels":{"type":"array","items":{"type":"object","properties":{"label":{"type":"string"},"samples":{"type":"array","items":{"type":"integer"}}}}}}},
 "Dispensing": {"type":"object","required":["dispensing"],"properties":{"dispensing":{"type":"string","enum":["hospital","delivery"]}}},
 "HisLinkResolve": {"type":"object","required":["patient_id"],"properties":{"patient_id":{"type":["integer","null"]},"reason":{"type":"string"}}},
 "LoginRequest": {"type":"object","required":["username","password"],"properties":{"username":{"type":"string"},"password":{"type":"string","format":"password"},"totp":{"type":"string","pattern":"^[0-9]{6}$"}}},
 "LoginResponse": {"type":"object","required":["token","csrf_token","expires_at"],"properties":{"token":{"type":"string"},"csrf_token":{"type":"string"},"expires_at":{"$ref":"#/components/schemas/Time"},"must_change_password":{"type":"boolean"},"must_enrol_totp":{"type":"boolean"},"account":{"type":"object","properties":{"id":{"type":"integer"},"username":{"type":"string"},"role":{"type":"string"}}}}},
 "PasswordChange": {"type":"object","required":["old_password","new_password"],"properties":{"old_password":{"type":"string"},"new_password":{"type":"string"}}},
 "TotpConfirm": {"type":"object","required":["code"],"properties":{"code":{"type":"string"}}},
 "TotpBegin": {"type":"object","required":["password"],"properties":{"password":{"type":"string"},"totp":{"type":"string","description":"a code from the enrolled authenticator, when replacing it"}}},
 "AccountCreate": {"type":"object","required":["username","role"],"properties":{"username":{"type":"string"},"role":{"type":"string","enum":["doctor","pharmacist","nurse","sysadmin","secadmin","auditadmin"]},"expires_at":{"type":"string","format":"date"}}},
 "RoleChange": {"type":"object","required":["role"],"properties":{"role":{"type":"string"}}},
 "Reason": {"type":"object","properties":{"reason":{"type":"string","maxLength":200}}},
 "Expiry": {"type":"object","properties":{"expires_at":{"type":"string","format":"date"}}},
 "Grant": {"type":"object","required":["granted"],"properties":{"granted":{"type":"boolean"}}},
 "TimeOrNull": {"type":"string","nullable":True,"pattern":"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$","description":"a time, or null when never set"},
 "Time": {"type":"string","format":"date-time","pattern":"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{3})?Z$","example":"2026-09-22T04:13:20.000Z","description":"every time in the API: ISO 8601 UTC"},
 "DiagnosisCodes": {"type":"array","items":{"type":"object","required":["code","name"],"properties":{"code":{"type":"string","example":"I10.x00"},"name":{"type":"string","example":"原发性高血压"}}},"description":"every diagnosis-code list the API shows: codes of the loaded ICD-10 list with their names"},
 "Account": {"type":"object","required":["id","username","role","status","created_at"],"properties":{"id":{"type":"integer"},"username":{"type":"string"},"role":{"type":"string"},"status":{"type":"string","enum":["pending","active","disabled"]},"must_change_password":{"type":"boolean"},"totp_enrolled":{"type":"boolean"},"locked":{"type":"boolean"},"failed_logins":{"type":"integer"},"expires_at":{"$ref":"#/components/schemas/TimeOrNull"},"last_login_at":{"$ref":"#/components/schemas/TimeOrNull"},"created_at":{"$ref":"#/components/schemas/Time"},"disabled_reason":{"type":"string"},"disabled_note":{"type":"string"}}},
 "AccountList": {"type":"object","required":["accounts"],"properties":{"accounts":{"type":"array","items":{"$ref":"#/components/schemas/Account"}},"next_after":{"type":"integer"},"next_before":{"type":"integer"}}},
 "Sessions": {"type":"object","required":["sessions"],"properties":{"sessions":{"type":"array","items":{"type":"object","required":["id","created_at","last_seen_at","expires_at","current"],"properties":{"id":{"type":"integer"},"created_at":{"$ref":"#/components/schemas/Time"},"last_seen_at":{"$ref":"#/components/schemas/Time"},"expires_at":{"$ref":"#/components/schemas/Time"},"ip":{"type":"string"},"current":{"type":"boolean"}}}}}},
 "Approval": {"type":"object","required":["id","kind","state","proposed_by","proposed_at"],"properties":{"id":{"type":"integer"},"kind":{"type":"string","enum":["role","grant"]},"state":{"type":"string","enum":["pending","approved","rejected"]},"proposed_by":{"type":"integer"},"proposed_at":{"$ref":"#/components/schemas/Time"},"decided_by":{"type":"integer"},"decided_at":{"$ref":"#/components/schemas/Time"},"account_id":{"type":"integer"},"role":{"type":"string"},"permission":{"type":"string"},"granted":{"type":"boolean"}}},
 "Proposed": {"type":"object","required":["approval"],"properties":{"approval":{"$ref":"#/components/schemas/Approval"}}},
 "Operation": {"type":"object","required":["operation"],"properties":{"operation":{"type":"object","required":["kind","id","state","started_at","node","href"],"properties":{"kind":{"type":"string","enum":["selfcheck","audit.verify","backup"]},"id":{"type":"integer"},"state":{"type":"string","enum":["running"]},"started_at":{"type":"integer","description":"ms since the epoch"},"node":{"type":"string","description":"the server running it"},"href":{"type":"string","description":"where to ask for the result (also the Location header)"}}}}},
 "Decided": {"type":"object","required":["approval"],"properties":{"approval":{"$ref":"#/components/schemas/Approval"}}},
 "PaymentOrder": {"type":"object","required":["channel"],"properties":{"channel":{"type":"string","enum":["wechat","alipay","unionpay","insurance","cash"]},"prescription_id":{"type":"integer","description":"pay an approved prescription; without it, the visit's fee"}},"description":"The amount is the server's; only the channel's signed notification marks the order paid."},
 "PaymentView": {"type":"object","required":["id","visit_id","amount","channel","paid","created_at"],"properties":{"id":{"type":"integer"},"visit_id":{"type":"integer"},"prescription_id":{"type":"integer"},"order_no":{"type":"string"},"state":{"type":"string","enum":["pending","paid","refunding","refunded"]},"amount":{"$ref":"#/components/schemas/Money"},"channel":{"type":"string"},"channel_name":{"type":"string"},"trade_no":{"type":"string","description":"the channel's, from its notification"},"paid":{"type":"boolean"},"paid_at":{"$ref":"#/components/schemas/TimeOrNull"},"created_at":{"$ref":"#/components/schemas/Time"},"refund_no":{"type":"string"},"refund_by":{"type":"integer"},"refunded_at":{"$ref":"#/components/schemas/TimeOrNull"}}},
 "PaymentOrdered": {"type":"object","required":["payment","pay"],"properties":{"payment":{"$ref":"#/components/schemas/PaymentView"},"pay":{"type":"object","description":"what the channel answered: the parameters the patient's app pays with"}}},
 "PaymentNotification": {"type":"object","required":["event","order_no","trade_no","amount"],"properties":{"event":{"type":"string","enum":["paid","refunded"]},"order_no":{"type":"string"},"trade_no":{"type":"string"},"refund_no":{"type":"string"},"amount":{"$ref":"#/components/schemas/Money"},"time":{"type":"string"}},"description":"Signed by the channel over \"X-Pay-Timestamp\\nX-Pay-Nonce\\nbody\\n\" (X-Pay-Signature, base64) with the key of [payment] notify_public_key."},
 "NotifyAck": {"type":"object","properties":{"code":{"type":"string","enum":["SUCCESS"]}}},
 "Refund": {"type":"object","required":["reason"],"properties":{"reason":{"type":"string","maxLength":200}}},
 "Money": {"type":"string","pattern":"^[0-9]{1,9}(\\.[0-9]{1,2})?$","example":"12.50","description":"yuan; numbers are accepted on input"},
 "Institution": {"type":"object","required":["name","ih_name","organ_id","unit_id","licence_no","ih_approval","entity_hospital","address","phone"],"properties":{"name":{"type":"string","maxLength":64},"ih_name":{"type":"string","maxLength":64},"organ_id":{"type":"string","pattern":"^[0-9A-Z]{9,18}$"},"unit_id":{"type":"string"},"licence_no":{"type":"string"},"licence_valid_until":{"type":"string","format":"date"},"ih_approval":{"type":"string"},"entity_hospital":{"type":"string"},"address":{"type":"string"},"phone":{"type":"string"},"intro":{"type":"string","maxLength":1000}}},
 "Department": {"type":"object","required":["code","name","subject_code","category_code","kind"],"properties":{"code":{"type":"string"},"name":{"type":"string"},"subject_code":{"type":"string","description":"国家诊疗科目, e.g. 03.04"},"category_code":{"type":"string","description":"the subject's first level, e.g. 03"},"kind":{"type":"string","enum":["clinical","medtech","nursing","pharmacy"]},"active":{"type":"boolean"},"intro":{"type":"string"}}},
 "Staff": {"type":"object","required":["account_id","name","cert_type","cert_no","sex","birth_date","title_code","subject_code","qualification_no","practice_no","practice_years","departments"],"properties":{"account_id":{"type":"integer"},"name":{"type":"string"},"cert_type":{"type":"string","enum":["1","2","3","4","5","99"]},"cert_no":{"type":"string","description":"sealed, blind-indexed; masked for others"},"sex":{"type":"string","enum":["0","1","2"]},"birth_date":{"type":"string","format":"date"},"title_code":{"type":"string","description":"职称 231–265"},"subject_code":{"type":"string"},"qualification_no":{"type":"string"},"practice_no":{"type":"string"},"practice_years":{"type":"integer","minimum":0},"insurance_policy":{"type":"string"},"insurance_until":{"type":"string","format":"date"},"intro":{"type":"string"},"departments":{"type":"array","items":{"type":"integer"}},"status":{"type":"string","readOnly":True},"online":{"type":"boolean","readOnly":True}}},
 "StaffView": {"type":"object","required":["id","name","departments"],"properties":{"id":{"type":"integer"},"name":{"type":"string"},"departments":{"type":"array","items":{"type":"object","required":["id","name"],"properties":{"id":{"type":"integer"},"name":{"type":"string"},"code":{"type":"string"}}},"description":"what a staff record is written with as department ids is read back as the departments"},"status":{"type":"string"},"online":{"type":"boolean"}}},
 "Online": {"type":"object","required":["online"],"properties":{"online":{"type":"boolean"},"reason":{"type":"string"}}},
 "StaffStatus": {"type":"object","required":["status"],"properties":{"status":{"type":"string","enum":["active","suspended"]},"reason":{"type":"string"}}},
 "Drug": {"type":"object","required":["hosp_code","name","spec","unit","manufacturer","dosage_form","drug_class","price","restricted"],"properties":{"hosp_code":{"type":"string"},"national_code":{"type":"string"},"name":{"type":"string"},"trade_name":{"type":"string"},"spec":{"type":"string"},"unit":{"type":"string"},"manufacturer":{"type":"string"},"dosage_form":{"type":"string"},"drug_class":{"type":"string","enum":["1","2","3"]},"price":{"$ref":"#/components/schemas/Money"},"otc":{"type":"boolean"},"restricted":{"type":"boolean"},"restricted_class":{"type":"string","enum":["narcotic","psychotropic1","psychotropic2","toxic","radioactive","precursor","other"]},"active":{"type":"boolean"}}},
 "ImportReport": {"type":"object","properties":{"created":{"type":"integer"},"updated":{"type":"integer"},"loaded":{"type":"integer"},"errors":{"type":"array","items":{"type":"object","properties":{"row":{"type":"integer"},"field":{"type":"string"},"code":{"type":"string"},"message":{"type":"string"}}}}}},
 "Schedule": {"type":"object","required":["staff_id","department_id","day","start_time","end_time","consult_type","capacity","response_minutes","fee"],"properties":{"staff_id":{"type":"integer"},"department_id":{"type":"integer"},"day":{"type":"string","format":"date"},"start_time":{"type":"string","example":"08:00"},"end_time":{"type":"string","example":"12:00"},"consult_type":{"type":"string","enum":["1","2","3"],"description":"1 text, 2 phone, 3 video"},"capacity":{"type":"integer"},"response_minutes":{"type":"integer"},"fee":{"$ref":"#/components/schemas/Money"}}},
 "Patient": {"type":"object","properties":{"name":{"type":"string"},"cert_type":{"type":"string"},"cert_no":{"type":"string","description":"身份证 checked against GB 11643"},"sex":{"type":"string"},"birth_date":{"type":"string","format":"date"},"phone":{"type":"string"},"address":{"type":"string"},"allergies":{"type":"string"},"guardian_name":{"type":"string"},"guardian_cert_type":{"type":"string"},"guardian_cert_no":{"type":"string"},"guardian_phone":{"type":"string"},"realname":{"type":"string","enum":["verified","unverified"],"readOnly":True}}},
 "CodeTables": {"type":"object","properties":{"tables":{"type":"array","items":{"type":"object","properties":{"key":{"type":"string"},"name":{"type":"string"},"count":{"type":"integer"}}}}}},
 "CodeTable": {"type":"object","properties":{"table":{"type":"string"},"name":{"type":"string"},"codes":{"type":"array","items":{"type":"object","properties":{"code":{"type":"string"},"name":{"type":"string"}}}}}},
 "RegistrationStarted": {"type":"object","properties":{"registration":{"type":"string","description":"the token to send with the code"},"expires_at":{"type":"string","format":"date-time"}}},
 "RegistrationVerify": {"type":"object","required":["registration","code"],"properties":{"registration":{"type":"string"},"code":{"type":"string","pattern":"^[0-9]{6}$"},"username":{"type":"string","description":"instead of the one given at the start (when it was taken)"}},"description":"At most 5 tries per code; a code lives [registry] code_minutes."},
 "Registered": {"type":"object","properties":{"patient":{"$ref":"#/components/schemas/Patient"},"account_id":{"type":"integer"},"username":{"type":"string"}}},
 "ResetStart": {"type":"object","required":["cert_no","phone"],"properties":{"cert_no":{"type":"string"},"phone":{"type":"string"}}},
 "ResetStarted": {"type":"object","properties":{"reset":{"type":"string"},"expires_at":{"type":"string","format":"date-time"}}},
 "ResetConfirm": {"type":"object","required":["reset","code","new_password"],"properties":{"reset":{"type":"string"},"code":{"type":"string","pattern":"^[0-9]{6}$"},"new_password":{"type":"string","format":"password"}}},
 "Registration": {"allOf":[{"$ref":"#/components/schemas/Patient"},{"type":"object","required":["username","password","name","cert_type","cert_no","sex","birth_date","phone","consents"],"properties":{"username":{"type":"string"},"password":{"type":"string","format":"password"},"consents":{"type":"object","required":["privacy","agreement"],"properties":{"privacy":{"type":"string"},"agreement":{"type":"string"}}}}}],"description":"A guardian is required under 6 years, allowed under 18."},
 "Consent": {"type":"object","required":["document","version"],"properties":{"document":{"type":"string","enum":["privacy","agreement"]},"version":{"type":"string"}}},
 "BreakGlass": {"type":"object","required":["reason"],"properties":{"reason":{"type":"string","minLength":10,"maxLength":300}}},
 "Decision": {"type":"object","required":["decision"],"properties":{"decision":{"type":"string","enum":["approve","reject"]}}},
 "BreakGlassReview": {"type":"object","required":["verdict"],"properties":{"verdict":{"type":"string","enum":["justified","unjustified"]},"note":{"type":"string","maxLength":500}}},
 "VisitRequest": {"type":"object","required":["kind","complaint"],"properties":{"kind":{"type":"string","enum":["consult","followup"]},"schedule_id":{"type":"integer"},"department_id":{"type":"integer"},"complaint":{"type":"string","maxLength":500},"attribute":{"type":"string","enum":["1","2","3","4","9"]},"first_diagnosis":{"type":"string","description":"required for a follow-up"},"disease_history":{"type":"string","description":"required for a follow-up"},"guardian_present":{"type":"boolean","description":"required true under 6"}}},
 "Visit": {"type":"object","required":["id","kind","status"],"properties":{"id":{"type":"integer"},"kind":{"type":"string"},"status":{"type":"string","enum":["requested","accepted","closed","refused","expired","cancelled"]},"label":{"type":"integer","minimum":1,"maximum":5},"fee":{"$ref":"#/components/schemas/Money"},"requested_at":{"$ref":"#/components/schemas/Time"},"respond_by":{"$ref":"#/components/schemas/Time"},"patient_name":{"type":"string","description":"in a clinician's list, masked for the role"},"messages":{"type":"array","items":{"type":"object"}}}},
 "VisitList": {"type":"object","required":["visits"],"properties":{"visits":{"type":"array","items":{"$ref":"#/components/schemas/Visit"}},"next_after":{"type":["integer","null"]},"next_before":{"type":["integer","null"]}}},
 "Accept": {"type":"object","properties":{"followup_confirmed":{"type":"boolean"},"label":{"type":"integer","minimum":1,"maximum":5}}},
 "Label": {"type":"object","required":["label","reason"],"properties":{"label":{"type":"integer","minimum":1,"maximum":5},"reason":{"type":"string"}}},
 "Message": {"type":"object","required":["body"],"properties":{"body":{"type":"string","maxLength":2000}}},
 "Media": {"type":"object","required":["kind","started_at","ended_at"],"properties":{"kind":{"type":"string","enum":["phone","video"]},"started_at":{"type":"string","format":"date-time"},"ended_at":{"type":"string","format":"date-time"},"recording_ref":{"type":"string"},"recording_hash":{"type":"string"}}},
 "RecordView": {"type":"object","required":["id","visit_id","revision","diagnosis_codes"],"properties":{"id":{"type":"integer"},"visit_id":{"type":"integer"},"revision":{"type":"integer"},"chief_complaint":{"type":"string"},"present_history":{"type":"string"},"diagnosis_codes":{"$ref":"#/components/schemas/DiagnosisCodes"},"diagnosis":{"type":"string"},"opinion":{"type":"string"},"assist_result":{"type":"string"},"signature":{"type":"string","format":"byte"},"created_at":{"$ref":"#/components/schemas/Time"}}},
 "RecordList": {"type":"object","required":["records"],"properties":{"records":{"type":"array","items":{"$ref":"#/components/schemas/RecordView"}}}},
 "Record": {"type":"object","required":["chief_complaint","present_history","diagnosis_codes","diagnosis","opinion"],"properties":{"chief_complaint":{"type":"string"},"present_history":{"type":"string"},"diagnosis_codes":{"type":"array","items":{"type":"string","example":"I10.x00"}},"diagnosis":{"type":"string"},"opinion":{"type":"string"},"assist_result":{"type":"string"},"label":{"type":"integer"},"correction_reason":{"type":"string","description":"required from the second revision on"}}},
 "PrescriptionIssue": {"type":"object","required":["recipe_type","diagnosis_codes","items"],"properties":{"recipe_type":{"type":"string","enum":["1","2","3"]},"diagnosis_codes":{"type":"array","items":{"type":"string"}},"allergy_override":{"type":"object","required":["reason"],"properties":{"reason":{"type":"string","minLength":4,"maxLength":300}},"description":"required (409 naming it otherwise) when a drug is of a class the patient is recorded as allergic to"},"effective_days":{"type":"integer","minimum":1,"maximum":7},"items":{"type":"array","minItems":1,"maxItems":5,"items":{"type":"object","required":["drug_id","route","frequency","dosage","dose_unit","quantity","days"],"properties":{"drug_id":{"type":"integer"},"route":{"type":"string","description":"CV06.00.102"},"frequency":{"type":"string","example":"qd"},"dosage":{"type":"string","example":"5"},"dose_unit":{"type":"string","example":"mg"},"quantity":{"type":"integer"},"days":{"type":"integer","description":"at most [care] rx_max_days"},"remark":{"type":"string"}}}}}},
 "Prescription": {"type":"object","required":["id","recipe_no","status","total_fee"],"properties":{"id":{"type":"integer"},"visit_id":{"type":"integer"},"recipe_no":{"type":"string"},"status":{"type":"string","enum":["issued","approved","rejected","cancelled","dispensed","delivered","expired"]},"total_fee":{"$ref":"#/components/schemas/Money"},"diagnosis_codes":{"$ref":"#/components/schemas/DiagnosisCodes"},"signature":{"type":"string","format":"byte"},"review_signature":{"type":"string","format":"byte"},"pay_state":{"type":"string","enum":["none","paid","pending","due"],"description":"while approved: paying it (none: costs nothing or paid afterwards)"},"items":{"type":"array","items":{"type":"object"}},"issued_at":{"$ref":"#/components/schemas/Time"},"expires_at":{"$ref":"#/components/schemas/TimeOrNull"},"reviewed_at":{"$ref":"#/components/schemas/TimeOrNull"},"finished_at":{"$ref":"#/components/schemas/TimeOrNull"},"allergy_override":{"type":"string","description":"the doctor's reason for prescribing against a recorded allergy"}}},
 "Review": {"type":"object","required":["decision"],"properties":{"decision":{"type":"string","enum":["approve","reject"]},"reason":{"type":"string","description":"required to reject"}}},
 "Dispense": {"type":"object","required":["delivery_type"],"properties":{"delivery_type":{"type":"string","enum":["0","1","2"]},"delivery_firm":{"type":"string","description":"required for delivery"}}},
 "Evaluation": {"type":"object","required":["satisfaction","score","text"],"properties":{"satisfaction":{"type":"integer","minimum":1,"maximum":5},"score":{"type":"integer","minimum":0,"maximum":10},"text":{"type":"string","maxLength":300},"complaint":{"type":"string"}}},
 "AdverseEvent": {"type":"object","required":["kind","description","cause","measures","damage_degree","improvements","department_id","event_date"],"properties":{"visit_id":{"type":"integer"},"kind":{"type":"string"},"description":{"type":"string"},"cause":{"type":"string"},"measures":{"type":"string"},"damage_degree":{"type":"string","enum":["1","2","3","4","5"]},"improvements":{"type":"string"},"department_id":{"type":"integer"},"event_date":{"type":"string","format":"date"}}},
 "StatsRequest": {"type":"object","required":["report","purpose","window_from","window_to"],"properties":{"report":{"type":"string","enum":["drug_usage","doctor_prescribing"]},"purpose":{"type":"string","minLength":10},"window_from":{"type":"string","format":"date"},"window_to":{"type":"string","format":"date"}}},
 "StatsDecision": {"type":"object","required":["approve","reason"],"properties":{"approve":{"type":"boolean"},"reason":{"type":"string"}}},
 "Public": {"type":"object","properties":{"institution":{"$ref":"#/components/schemas/Institution"},"departments":{"type":"array","items":{"type":"object"}},"doctors":{"type":"array","items":{"type":"object"}}}},
}
def emit(obj, ind):
    pad = "  " * ind
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = "'$ref'" if k == "$ref" else k
            if isinstance(v, (dict, list)):
                if not v:
                    w("%s%s: %s" % (pad, key, "{}" if isinstance(v, dict) else "[]"))
                    continue
                w("%s%s:" % (pad, key))
                emit(v, ind + 1)
            else:
                w("%s%s: %s" % (pad, key, json.dumps(v, ensure_ascii=False)))
    else:
        for v in obj:
            if isinstance(v, dict):
                first = True
                items = list(v.items())
                w("%s- %s" % (pad, ""))
                lines[-1] = lines[-1].rstrip()
                lines.pop()
                sub = []
                for i,(k, vv) in enumerate(items):
                    pre = "- " if i == 0 else "  "
                    if isinstance(vv, (dict, list)):
                        w("%s%s%s:" % (pad, pre, k)); emit(vv, ind + 2)
                    else:
                        w("%s%s%s: %s" % (pad, pre, k, json.dumps(vv, ensure_ascii=False)))
            else:
                w("%s- %s" % (pad, json.dumps(v, ensure_ascii=False)))
def nullable_optional(sch):
    """A property an object does not require may come back null (unset)."""
    if isinstance(sch, dict):
        req = set(sch.get("required", []))
        for k, v in (sch.get("properties") or {}).items():
            if k not in req and isinstance(v, dict) and "$ref" not in v:
                v["nullable"] = True
            nullable_optional(v)
        for k in ("items", "allOf", "anyOf"):
            if k in sch:
                nullable_optional(sch[k])
    elif isinstance(sch, list):
        for x in sch:
            nullable_optional(x)
for _name, _sch in schemas.items():
    nullable_optional(_sch)
emit(schemas, 2)
w("security:")
w("  - bearer: []")
w("  - cookie: []")
w("paths:")
by_path = {}
for m, p, perm, fn in routes:
    op, names = oapath(p)
    by_path.setdefault(op, []).append((m, p, perm, names))
for op, ms in by_path.items():
    w("  %s:" % op)
    for m, p, perm, names in ms:
        meta = S.get((m, op))
        if not meta:
            raise SystemExit("no description for %s %s" % (m, op))
        w("    %s:" % m.lower())
        w("      summary: %s" % json.dumps(meta["summary"], ensure_ascii=False))
        w("      operationId: %s" % [f for mm, pp, pr, f in [(a,b,c,d) for a,b,c,d in routes] if mm == m and pp == p][0])
        pn = perm_names.get(perm, perm.lower())
        w("      x-ihos-permission: %s" % pn)
        if perm == "PUBLIC":
            w("      security: []")
        params = [(n, "path") for n in names] + [(q, "query") for q in meta["query"]]
        if params:
            w("      parameters:")
            for n, where in params:
                if n == "table":
                    w("        - {name: table, in: path, required: true, schema: {type: string, enum: %s}, description: %s}" % (
                        json.dumps([k for k, _ in code_tables]), json.dumps("; ".join("%s: %s" % kv for kv in code_tables), ensure_ascii=False)))
                    continue
                t, d = ("string", "") if n in ("role","perm","name") else ("integer", "") if where == "path" else Q[n]
                w("        - {name: %s, in: %s, required: %s, schema: {type: %s}%s}" % (n, where, "true" if where=="path" else "false", t, (", description: " + json.dumps(d, ensure_ascii=False)) if d else ""))
        if meta["req"] or meta["ctype"]:
            w("      requestBody:")
            w("        required: true")
            w("        content:")
            if meta["ctype"]:
                w("          %s: {schema: {type: string}}" % meta["ctype"])
            else:
                w("          application/json: {schema: {$ref: '#/components/schemas/%s'}}" % meta["req"])
        w("      responses:")
        st = meta["status"] or 200
        if meta["resp"] is None:
            w("        '%d': {description: done}" % st)
        elif meta["resp"] == "HTML":
            w("        '%d': {description: the page, content: {text/html: {schema: {type: string}}}}" % st)
        elif meta["resp"] == "Asset":
            w("        '%d': {description: the asset, content: {'*/*': {schema: {type: string, format: binary}}}}" % st)
        elif meta["resp"] == "Image":
            w("        '%d': {description: the image, content: {image/jpeg: {schema: {type: string, format: binary}}}}" % st)
        elif meta["resp"] == "Events":
            w("        '%d': {description: an event stream, content: {text/event-stream: {schema: {type: string}}}}" % st)
        elif meta["resp"] == "Redirect":
            w("        '%d': {description: see Location, headers: {Location: {schema: {type: string}}}}" % st)
        elif meta["resp"] == "Text":
            w("        '%d': {description: text, content: {text/plain: {schema: {type: string}}}}" % st)
        else:
            w("        '%d':" % st)
            w("          description: ok")
            w("          content: {application/json: {schema: {$ref: '#/components/schemas/%s'}}}" % meta["resp"])
        for ast, aschema in sorted(meta["also"].items()):
            w("        '%d':" % ast)
            w("          description: ok")
            w("          content: {application/json: {schema: {$ref: '#/components/schemas/%s'}}}" % aschema)
        errs = ["Error400"]
        if perm != "PUBLIC": errs += ["Error401", "Error403"]
        if names: errs += ["Error404"]
        if m in ("POST","PUT","PATCH","DELETE"): errs += ["Error409"]
        if op in ("/api/v1/sessions", "/api/v1/patients", "/api/v1/password-resets") and m == "POST": errs += ["Error429"]
        if op == "/api/v1/payments/notify": errs = ["Error400", "Error401", "Error404", "Error409"]
        errs += ["Error503"]
        for e in errs:
            w("        '%s': {$ref: '#/components/responses/%s'}" % (e[5:], e))
open('docs/openapi.yaml','w').write("\n".join(lines) + "\n")
print(len(lines))
