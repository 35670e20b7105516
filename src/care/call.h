/* call.h — a visit's (or a remote consultation's) audio-video calls: who may take part, the patient's
 * consent, which system carries the call, and the offers and answers that
 * system B's browsers exchange through ihosd.
 *
 * The systems themselves (Janus, coturn) are outside systems reached by
 * remote/av.h; this module keeps the record and the rules:
 *   - only the treating doctor of an accepted visit opens a call; the
 *     room number, its PIN and its secret are drawn here and sealed;
 *   - nobody gets credentials before the visit's patient has consented
 *     (a refusal ends the call); recording needs its own consent;
 *   - only the visit's patient and treating doctor join; credentials live
 *     until the end of the visit's shift (or [av] session_minutes when the
 *     shift has ended) and belong to this call only;
 *   - a call moves from system A (Janus) to B (browser to browser, relayed
 *     by coturn) when A is down; never back;
 *   - open, consent, join, leave, switch and end are audit events; the end
 *     of a call that started is kept as the visit's media record (video,
 *     start and end).
 * States: inviting → open (consented) → ended; inviting → declined.
 * Refusals are 403 / 409 and audited (cl_refused).
 */
#ifndef IH_CARE_CALL_H
#define IH_CARE_CALL_H

#include "registry/clinic.h"

#define IH_CALL_JANUS "janus"
#define IH_CALL_P2P "p2p"

/* What the API needs to act on a call at its system (the PIN and secret
 * are wiped by ih_call_grant_wipe). */
typedef struct ih_call_grant {
    int64_t session_id, visit_id, account;
    int64_t expires_at; /* epoch ms */
    int64_t room;
    char system[8]; /* IH_CALL_JANUS | IH_CALL_P2P */
    char role[8];   /* "doctor" | "patient" | "expert" */
    char pin[16];
    char secret[40];
    int parties;  /* who may take part: 2, or a consultation's requester and experts */
    bool created; /* ih_call_open: a new call (its room still to be made) */
} ih_call_grant;
void ih_call_grant_wipe(ih_call_grant *g);

/* Treating doctor: the visit's open call, or a new one on `system`
 * (inviting the patient).  minutes: credentials' life when the shift has
 * ended.  *out: the call's view. */
ih_err ih_call_open(ih_clinic *c, const ih_viewer *v, int64_t visit_id, const char *system, int minutes,
                    ih_call_grant *g, json_t **out);
/* A remote consultation's call (care/consult.h): its requester or lead
 * expert opens it once the consultation is scheduled; the patient's informed
 * consent is the consultation's, so it opens `open`; everyone in it (the
 * requester and the invited experts) joins; an MDT's call needs Janus
 * (system B carries two participants). */
ih_err ih_call_open_consult(ih_clinic *c, const ih_viewer *v, int64_t consult_id, const char *system, int minutes,
                            ih_call_grant *g, json_t **out);
ih_err ih_call_get_consult(ih_clinic *c, const ih_viewer *v, int64_t consult_id, json_t **out);
/* The visit's latest call ({"call": null} when none); a participant or a
 * clinician who may read the visit. */
ih_err ih_call_get(ih_clinic *c, const ih_viewer *v, int64_t visit_id, json_t **out);
/* The visit's patient: {"consent": true|false, "recording": bool}; *g the
 * call's room (to start its recording), wiped by the caller. */
ih_err ih_call_consent(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, ih_call_grant *g, json_t **out);
/* A participant of an open, consented, unexpired call: the grant. */
ih_err ih_call_join(ih_clinic *c, const ih_viewer *v, int64_t id, ih_call_grant *g);
ih_err ih_call_leave(ih_clinic *c, const ih_viewer *v, int64_t id);
/* Move the call to system B (reason: a short code, e.g. "janus_down").
 * v: a participant.  Idempotent once on B. */
ih_err ih_call_switch(ih_clinic *c, const ih_viewer *v, int64_t id, const char *reason, ih_call_grant *g);
/* Treating doctor: end the call (the media record when it started); g
 * says which room to close. */
ih_err ih_call_end(ih_clinic *c, const ih_viewer *v, int64_t id, ih_call_grant *g, json_t **out);
/* The visit's call that is still inviting or open, *id 0 when none (a
 * closed visit's call ends with it: the API ends it after the close). */
ih_err ih_call_live_of_visit(ih_clinic *c, int64_t visit_id, int64_t *id);
/* System B's signalling: {kind: hello|offer|answer|bye, data?: SDP (sealed)}
 * from a participant of the open call; the other side is told. */
ih_err ih_call_signal(ih_clinic *c, const ih_viewer *v, int64_t id, json_t *body, json_t **out);
/* The other participant's signals after id `after`: {"signals": [...]}. */
ih_err ih_call_signals(ih_clinic *c, const ih_viewer *v, int64_t id, int64_t after, json_t **out);

/* ---- recordings (remote/recording.h does the files) ---- */
/* Janus records this call now (the patient consented; on Janus): audited
 * call.record_start; refused without the consent. */
ih_err ih_call_recording_started(ih_clinic *c, const ih_viewer *v, int64_t id);
/* Calls ended (or past their time) whose recording waits to be stored. */
typedef struct ih_call_due {
    int64_t call, room;
} ih_call_due;
ih_err ih_call_recordings_due(ih_clinic *c, ih_call_due *out, int max, int *n);
/* One stored file: what it is, where (under recordings/), its key (hex,
 * sealed in the database, wiped by the caller). */
typedef struct ih_call_file {
    int64_t call, bytes;
    char kind[8], format[8], file[64], sha256[65], key_hex[65];
} ih_call_file;
/* The files stored for a call (maybe none) and its recording's final
 * state: "stored", "none" (Janus wrote nothing) or "failed"; audited by the
 * system as call.recording_stored. */
ih_err ih_call_recordings_saved(ih_clinic *c, int64_t call, const ih_call_file *files, int n, const char *state);
/* The visit's treating doctor opens recording rec (audited
 * call.recording_open); *out says where it is and its key. */
ih_err ih_call_recording_get(ih_clinic *c, const ih_viewer *v, int64_t rec, ih_call_file *out);

#endif
