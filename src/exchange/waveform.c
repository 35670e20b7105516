/* waveform.c — see waveform.h. */
#include "exchange/waveform.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHANNELS 16
#define MAX_SAMPLES 60000
#define MAX_HZ 100000.0
#define MAX_STEP_UV 1e6     /* one stored unit: at most a volt */
#define MAX_BASELINE 65536.0

/* The string value of tag in item o (NULL when absent or not a string). */
static const char *tag_str(const json_t *o, const char *tag)
{
    return json_string_value(json_object_get(json_object_get(o, tag), "Value"));
}

/* The first item of sequence tag in item o (NULL when none). */
static const json_t *tag_item(const json_t *o, const char *tag)
{
    return json_array_get(json_object_get(json_object_get(o, tag), "Value"), 0);
}

/* The number of tag in item o — its first value when it holds several
 * (DS values are separated by '\') — or def when the tag is absent.
 * false when it is there and not a finite number. */
static bool tag_num(const json_t *o, const char *tag, double def, double *out)
{
    const char *s = tag_str(o, tag);
    if (!s) {
        *out = def;
        return true;
    }
    char *end;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (end == s || (*end && *end != '\\') || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool whole(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

/* µV per unit of a channel's sensitivity (UCUM code); 0 for a unit that is not volts. */
static double microvolts_per(const char *ucum)
{
    if (!ucum || !strcmp(ucum, "uV")) return 1;
    if (!strcmp(ucum, "mV")) return 1e3;
    if (!strcmp(ucum, "V")) return 1e6;
    return 0;
}

ih_err ih_waveform_decode(const json_t *group, const uint8_t *raw, size_t n, json_t **out)
{
    double nch = 0, ns = 0, freq = 0, bits = 0; /* as far as read, for the message */
    const char *interp = tag_str(group, "5400,1006");
    if (!tag_num(group, "003a,0005", 0, &nch) || !tag_num(group, "003a,0010", 0, &ns) ||
        !tag_num(group, "003a,001a", 0, &freq) || !tag_num(group, "5400,1004", 0, &bits) ||
        !whole(nch, 1, MAX_CHANNELS) || !whole(ns, 1, MAX_SAMPLES) || !(freq > 0 && freq <= MAX_HZ) || bits != 16 ||
        !interp || strncmp(interp, "SS", 2))
        return ih_fail(IH_E_INVALID, "a waveform ihos cannot draw (%g channels, %g samples at %g Hz, %g bits, %s)",
                       nch, ns, freq, bits, interp ? interp : "no interpretation");
    int nc = (int)nch, nsamp = (int)ns;
    if (n < (size_t)nc * (size_t)nsamp * 2)
        return ih_fail(IH_E_INVALID, "the waveform holds %zu bytes, fewer than its %d x %d samples", n, nc, nsamp);
    const json_t *defs = json_object_get(json_object_get(group, "003a,0200"), "Value");
    json_t *chans = json_array();
    IH_CHECK_ALLOC(chans);
    ih_err e = IH_OK;
    for (int c = 0; e == IH_OK && c < nc; c++) {
        const json_t *d = json_array_get(defs, (size_t)c);
        const char *label = tag_str(tag_item(d, "003a,0208"), "0008,0104");
        const char *unit = tag_str(tag_item(d, "003a,0211"), "0008,0100");
        double sens, corr, base, per = microvolts_per(unit);
        if (!tag_num(d, "003a,0210", 1, &sens) || !tag_num(d, "003a,0212", 1, &corr) ||
            !tag_num(d, "003a,0213", 0, &base)) {
            e = ih_fail(IH_E_INVALID, "waveform channel %d: a sensitivity, correction or baseline that is not a number",
                        c + 1);
            break;
        }
        if (per == 0) {
            e = ih_fail(IH_E_INVALID, "waveform channel %d is measured in '%.16s', not in volts", c + 1, unit);
            break;
        }
        if (sens == 0) sens = 1; /* not given a value: the stored units are the unit */
        if (corr == 0) corr = 1;
        double step = sens * corr * per;
        if (!isfinite(step) || fabs(step) > MAX_STEP_UV || fabs(base) > MAX_BASELINE) {
            e = ih_fail(IH_E_INVALID, "waveform channel %d: %g uV per step, baseline %g, out of range", c + 1, step,
                        base);
            break;
        }
        json_t *samples = json_array(), *ch = samples ? json_pack("{s:s, s:o}", "label", label ? label : "",
                                                                  "samples", samples)
                                                      : NULL;
        if (!ch || json_array_append_new(chans, ch)) {
            e = ih_fail(IH_E_NOMEM, "waveform");
            break;
        }
        for (int k = 0; e == IH_OK && k < nsamp; k++) {
            size_t at = ((size_t)k * (size_t)nc + (size_t)c) * 2; /* multiplexed: sample by sample */
            int16_t v = (int16_t)((uint16_t)raw[at] | (uint16_t)(raw[at + 1] << 8));
            if (json_array_append_new(samples, json_integer((json_int_t)llround((v + base) * step))))
                e = ih_fail(IH_E_NOMEM, "waveform");
        }
    }
    if (e != IH_OK) {
        json_decref(chans);
        return e;
    }
    /* "o" takes chans, and on failure frees it */
    if (!(*out = json_pack("{s:f, s:s, s:o}", "frequency", freq, "unit", "uV", "channels", chans)))
        return ih_fail(IH_E_NOMEM, "waveform");
    return IH_OK;
}
