/* av.h — the hospital's two audio-video systems, as ihosd reaches them.
 *
 *   A  Janus (WebRTC SFU, videoroom plugin), over its HTTP API.  ihosd
 *      creates and destroys each call's room with the plugin's admin_key
 *      (private, PIN, an allow-list to which ihosd adds a fresh token for
 *      each participant as they join, require_pvtid: a subscriber must name
 *      a publisher's private id) and signs each participant's API token with the
 *      token_auth_secret Janus shares (HMAC-SHA1 "EXPIRY,janus,PLUGIN",
 *      Janus's signed-token format): the token stops working at the call's
 *      expiry.  Browsers then talk to Janus themselves.
 *   B  WebRTC between the two browsers, offers and answers passed through
 *      ihosd (care/call.h), media relayed by coturn; each participant gets
 *      TURN REST credentials (user "EXPIRY:call-ID-ROLE", password
 *      base64 HMAC-SHA1 under coturn's static-auth-secret) that expire
 *      with the call.
 *
 * A thread checks Janus every health_seconds (GET …/info); new calls go to
 * A while it answers, to B otherwise; a call on A whose participant lost
 * Janus moves to B after a fresh check confirms A is down.  Metrics:
 * ihos_av_janus_up, ihos_av_calls_total{system}, ihos_av_switches_total.
 * Secrets are copied at creation and wiped at free.
 */
#ifndef IH_REMOTE_AV_H
#define IH_REMOTE_AV_H

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ih_av ih_av;

typedef struct ih_av_opts {
    const char *janus_url;        /* ihosd's view of Janus's API (""/NULL: no system A) */
    const char *janus_public_url; /* the browsers' ("": janus_url) */
    const char *janus_ca_file;    /* "" system CAs */
    const char *janus_token_secret;
    const char *janus_admin_key;
    const char *turn_urls;   /* comma-separated (""/NULL: no system B) */
    const char *turn_secret;
    bool relay_only;
    int health_seconds;
    const char *recordings_dir; /* where Janus records (shared with ihosd); ""/NULL: no recording */
    const char *pp_rec;         /* janus-tools' janus-pp-rec */
} ih_av_opts;

/* Check the options (https, or http on loopback); no thread yet. */
ih_err ih_av_new(const ih_av_opts *o, ih_av **out);
ih_err ih_av_start(ih_av *a); /* the health thread (when A is configured) */
void ih_av_free(ih_av *a);

bool ih_av_has_janus(const ih_av *a);
bool ih_av_has_turn(const ih_av *a);
/* Janus's state at the last check. */
bool ih_av_janus_up(ih_av *a);
/* Check now (and record the answer): IH_OK when Janus answers. */
ih_err ih_av_janus_check(ih_av *a);
/* The origin browsers reach Janus at ("https://host:port"), for the
 * console's connect-src; "" without A. */
const char *ih_av_janus_origin(const ih_av *a);

/* A call's room on Janus: created private with its PIN and secret, at most
 * `publishers` senders, recording locked to the secret (into the
 * recordings directory when one is configured); destroyed with the secret
 * (gone already is fine). */
ih_err ih_av_room_create(ih_av *a, int64_t room, const char *pin, const char *secret, int publishers);
/* Admit one participant: a fresh token (32 hex) added to the room's
 * allow-list; only holders of such a token publish, and a subscriber needs
 * a publisher's private id. */
ih_err ih_av_room_allow(ih_av *a, int64_t room, const char *secret, char token[33]);
/* Start recording the room (the patient consented).  IH_E_UNAVAILABLE
 * without a recordings directory. */
ih_err ih_av_room_record(ih_av *a, int64_t room, const char *secret);
const char *ih_av_recordings_dir(const ih_av *a); /* "" none */
const char *ih_av_pp_rec(const ih_av *a);
ih_err ih_av_room_destroy(ih_av *a, int64_t room, const char *secret);

/* What a participant needs, as JSON members added to obj:
 *   A: "janus": {url, token, room, pin, room_token}
 *   B and A: "ice_servers": [{urls: [...], username, credential}],
 *            "relay_only": bool (B only)
 * expires: epoch seconds; user: names the participant in TURN's logs. */
ih_err ih_av_grant_janus(ih_av *a, int64_t room, const char *pin, const char *room_token, int64_t expires,
                         json_t *obj);
ih_err ih_av_grant_turn(ih_av *a, const char *user, int64_t expires, bool p2p, json_t *obj);

/* The signed token Janus accepts until `expires` (epoch seconds). */
ih_err ih_av_janus_token(const ih_av *a, int64_t expires, char *out, size_t n);
/* coturn's REST password for `user`. */
ih_err ih_av_turn_password(const ih_av *a, const char *user, char *out, size_t n);

void ih_av_count_call(ih_av *a, bool janus);
void ih_av_count_switch(ih_av *a);
ih_err ih_av_metrics(ih_av *a, ih_buf *out);

#endif
