/* test_av.c — the audio-video systems' side of ihosd that needs no Janus:
 * configuration checks, Janus's signed-token format and coturn's REST
 * credentials (against values computed here with OpenSSL's HMAC directly),
 * and the grants handed to browsers. */
#include "support.h"

#include "core/buf.h"
#include "core/log.h"
#include "crypto/suite.h"
#include "core/fsutil.h"
#include "remote/av.h"
#include "remote/recording.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *SECRET = "token-secret-0123456789";
static const char *TURN = "turn-secret-0123456789";

static void b64_hmac_sha1(const char *key, const char *data, char out[32])
{
    unsigned char mac[20];
    unsigned int n = 0;
    HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)data, strlen(data), mac, &n);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)n);
}

static ih_av *make(const char *janus, const char *turn)
{
    ih_av_opts o = {.janus_url = janus, .janus_token_secret = SECRET, .janus_admin_key = "admin-key",
                    .turn_urls = turn, .turn_secret = TURN, .relay_only = true, .health_seconds = 5};
    ih_av *a = NULL;
    assert_int_equal(ih_av_new(&o, &a), IH_OK);
    return a;
}

static void t_config(void **state)
{
    (void)state;
    ih_av *a = NULL;
    ih_av_opts o = {.janus_url = "http://10.0.0.5:8088/janus", .janus_token_secret = SECRET, .janus_admin_key = "k"};
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG); /* plain http off loopback */
    o.janus_url = "ftp://janus";
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG);
    o.janus_url = "https://janus.example:8089/janus";
    o.janus_token_secret = "short";
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG);
    o.janus_token_secret = SECRET;
    o.janus_admin_key = "";
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG);
    o.janus_admin_key = "k";
    o.janus_public_url = "http://janus.example/janus"; /* browsers' pages are https */
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG);
    o.janus_public_url = "";
    o.turn_urls = "stun:turn.example:3478";
    o.turn_secret = TURN;
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG);
    o.turn_urls = "turn:a:3478, turn:b:3478, turn:c:3478, turn:d:3478, turn:e:3478";
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG); /* at most four */
    o.turn_urls = "turn:a:3478?transport=udp,turns:\"b\":5349";
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG);
    o.turn_urls = "turn:a:3478";
    o.turn_secret = "short";
    assert_int_equal(ih_av_new(&o, &a), IH_E_CONFIG);
    assert_null(a);
    ih_err_clear();

    a = make("http://127.0.0.1:8088/janus/", ""); /* loopback may be plain */
    assert_true(ih_av_has_janus(a));
    assert_false(ih_av_has_turn(a));
    assert_false(ih_av_janus_up(a)); /* not checked yet */
    assert_string_equal(ih_av_janus_origin(a), "http://127.0.0.1:8088");
    ih_av_free(a);
    a = make("", "turn:10.1.1.1:3478?transport=udp");
    assert_false(ih_av_has_janus(a));
    assert_true(ih_av_has_turn(a));
    assert_string_equal(ih_av_janus_origin(a), "");
    ih_av_free(a);
}

static void t_janus_token(void **state)
{
    (void)state;
    ih_av *a = make("https://janus.example:8089/janus", "");
    char tok[160], want[32];
    assert_int_equal(ih_av_janus_token(a, 1796194532, tok, sizeof tok), IH_OK);
    b64_hmac_sha1(SECRET, "1796194532,janus,janus.plugin.videoroom", want);
    char expect[200];
    snprintf(expect, sizeof expect, "1796194532,janus,janus.plugin.videoroom:%s", want);
    assert_string_equal(tok, expect);
    assert_int_equal(ih_av_janus_token(a, 1796194532, tok, 20), IH_E_INTERNAL); /* never a cut token */
    ih_err_clear();

    json_t *g = json_object();
    assert_int_equal(ih_av_grant_janus(a, 123456789, "01234567", "00112233445566778899aabbccddeeff", 1796194532, g), IH_OK);
    json_t *j = json_object_get(g, "janus");
    assert_string_equal(json_string_value(json_object_get(j, "url")), "https://janus.example:8089/janus");
    assert_string_equal(json_string_value(json_object_get(j, "token")), expect);
    assert_int_equal(json_integer_value(json_object_get(j, "room")), 123456789);
    assert_string_equal(json_string_value(json_object_get(j, "pin")), "01234567");
    assert_string_equal(json_string_value(json_object_get(j, "room_token")), "00112233445566778899aabbccddeeff");
    /* no TURN configured: an empty list, and no relay flag for a Janus call */
    assert_int_equal(ih_av_grant_turn(a, "call-1-doctor", 1796194532, false, g), IH_OK);
    assert_int_equal(json_array_size(json_object_get(g, "ice_servers")), 0);
    assert_null(json_object_get(g, "relay_only"));
    json_decref(g);
    ih_av_free(a);
}

static void t_turn_credentials(void **state)
{
    (void)state;
    ih_av *a = make("", " turn:10.1.1.1:3478?transport=udp , turns:turn.example:5349 ");
    json_t *g = json_object();
    assert_int_equal(ih_av_grant_turn(a, "call-7-patient", 1796194532, true, g), IH_OK);
    json_t *s = json_array_get(json_object_get(g, "ice_servers"), 0);
    json_t *urls = json_object_get(s, "urls");
    assert_int_equal(json_array_size(urls), 2);
    assert_string_equal(json_string_value(json_array_get(urls, 0)), "turn:10.1.1.1:3478?transport=udp");
    assert_string_equal(json_string_value(json_array_get(urls, 1)), "turns:turn.example:5349");
    assert_string_equal(json_string_value(json_object_get(s, "username")), "1796194532:call-7-patient");
    char want[32];
    b64_hmac_sha1(TURN, "1796194532:call-7-patient", want);
    assert_string_equal(json_string_value(json_object_get(s, "credential")), want);
    assert_true(json_is_true(json_object_get(g, "relay_only")));
    json_decref(g);
    ih_buf m = IH_BUF_INIT;
    ih_av_count_call(a, false);
    ih_av_count_switch(a);
    assert_int_equal(ih_av_metrics(a, &m), IH_OK);
    assert_non_null(strstr(m.p, "ihos_av_janus_up 0\n"));
    assert_non_null(strstr(m.p, "ihos_av_calls_total{system=\"p2p\"} 1\n"));
    assert_non_null(strstr(m.p, "ihos_av_switches_total 1\n"));
    ih_buf_free(&m);
    ih_av_free(a);
}

static void t_janus_unreachable(void **state)
{
    (void)state;
    /* nothing listens on port 9 of loopback: the check fails fast and says so */
    ih_av *a = make("http://127.0.0.1:9/janus", "");
    assert_int_equal(ih_av_start(a), IH_OK);
    assert_false(ih_av_janus_up(a));
    assert_int_equal(ih_av_janus_check(a), IH_E_UNAVAILABLE);
    assert_int_equal(ih_av_room_create(a, 1000001, "12345678", "secret", 4), IH_E_UNAVAILABLE);
    char tok[33];
    assert_int_equal(ih_av_room_allow(a, 1000001, "secret", tok), IH_E_UNAVAILABLE);
    ih_err_clear();
    ih_av_free(a);
}

/* A recording sealed under its own key opens only as it was, where it was. */
static void t_recording_files(void **state)
{
    (void)state;
    char *dir = t_tempdir();
    char path[512], junk[512];
    snprintf(path, sizeof path, "%s/1-0.rec", dir);
    ih_buf plain = IH_BUF_INIT, back = IH_BUF_INIT;
    assert_int_equal(ih_buf_puts(&plain, "OggS synthetic audio of a synthetic patient"), IH_OK);
    uint8_t root[32];
    for (int s = 0; s < 2; s++) {
        ih_suite suite = s ? IH_SUITE_GM : IH_SUITE_INTL;
        unlink(path);
        assert_int_equal(ih_rec_seal_file(suite, path, "av_recording:1:0", &plain, root), IH_OK);
        assert_int_equal(ih_rec_open_file(suite, path, "av_recording:1:0", root, &back), IH_OK);
        assert_int_equal(back.len, plain.len);
        assert_memory_equal(back.p, plain.p, plain.len);
        ih_buf_reset(&back);
        /* moved to another call or file: refused */
        assert_int_equal(ih_rec_open_file(suite, path, "av_recording:2:0", root, &back), IH_E_INTEGRITY);
        ih_buf f = IH_BUF_INIT;
        assert_int_equal(ih_file_read(path, 1 << 20, &f), IH_OK);
        assert_null(memmem(f.p, f.len, "OggS", 4)); /* nothing in the clear */
        f.p[f.len / 2] ^= 1;
        unlink(path);
        assert_int_equal(ih_file_create(path, f.p, f.len, 0600), IH_OK);
        assert_int_equal(ih_rec_open_file(suite, path, "av_recording:1:0", root, &back), IH_E_INTEGRITY);
        ih_buf_free(&f);
        ih_err_clear();
    }
    /* Janus's files for one room only, in order */
    const char *names[] = {"videoroom-77-user-2-100-video-1.mjr", "videoroom-77-user-1-100-audio-0.mjr",
                           "videoroom-777-user-1-100-audio-0.mjr", "videoroom-77-user-1-100-audio-0.txt"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(junk, sizeof junk, "%s/%s", dir, names[i]);
        assert_int_equal(ih_file_create(junk, "x", 1, 0600), IH_OK);
    }
    char found[IH_REC_MAX_FILES][PATH_MAX];
    int n;
    assert_int_equal(ih_rec_find(dir, 77, found, &n), IH_OK);
    assert_int_equal(n, 2);
    assert_non_null(strstr(found[0], "user-1-100-audio-0.mjr"));
    assert_non_null(strstr(found[1], "user-2-100-video-1.mjr"));
    char kind[8], format[8];
    snprintf(junk, sizeof junk, "%s/videoroom-77-user-1-100-data-2.mjr", dir);
    assert_int_equal(ih_rec_convert("/bin/false", junk, dir, &back, kind, format), IH_E_INVALID);
    assert_int_equal(ih_rec_convert("/bin/false", found[0], dir, &back, kind, format), IH_E_IO);
    assert_string_equal(kind, "audio");
    ih_err_clear();
    ih_buf_free(&plain);
    ih_buf_free(&back);
    t_rmtree(dir);
    free(dir);
}

int main(void)
{
    ih_log_setup("stderr", IH_LOG_ERROR + 1, "test");
    ih_json_init();
    if (ih_crypto_init() != IH_OK) return 1;
    const struct CMUnitTest t[] = {cmocka_unit_test(t_config), cmocka_unit_test(t_janus_token),
                                   cmocka_unit_test(t_turn_credentials), cmocka_unit_test(t_janus_unreachable), cmocka_unit_test(t_recording_files)};
    return cmocka_run_group_tests_name("av", t, NULL, NULL);
}
