/* hl7.h — HL7 v2 messages: parsing and writing (the HIS/LIS/RIS exchange).
 *
 * Input is UTF-8 (a GB18030 peer's bytes are converted first,
 * ih_hl7_to_utf8: GB18030 trail bytes can equal '|', '^', '~' and '\', so a
 * byte parser must never see them).  The delimiters come from MSH-1 and
 * MSH-2 (field, component, repetition, escape, sub-component; MSH-2 may omit
 * the last ones, which then take their defaults).  Segments end in CR; LF and
 * CRLF are accepted as well, empty lines skipped.
 *
 * Addressing follows the standard: field numbers from 1 (MSH-1 is the field
 * separator itself, MSH-2 the encoding characters), repetitions from 1,
 * components and sub-components from 1.  ih_hl7_get() decodes escapes
 * (\F\ \S\ \T\ \R\ \E\, \X..\ hex, \.br\ as a line break; \H\ and \N\
 * dropped; anything else kept as written) and refuses a value that would
 * not be valid UTF-8 or would hold a NUL.
 *
 * Limits (IH_E_TOO_LARGE beyond): 1 MiB of text, 2,000 segments, 200
 * fields per segment.  Every refusal says why (the ACK's ERR segment).
 */
#ifndef IH_EXCHANGE_HL7_H
#define IH_EXCHANGE_HL7_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>

#define IH_HL7_MAX_TEXT (1u << 20)
#define IH_HL7_MAX_SEGMENTS 2000
#define IH_HL7_MAX_FIELDS 200

typedef struct ih_hl7_delims {
    char field, comp, rep, esc, sub;
} ih_hl7_delims;

typedef struct ih_hl7 ih_hl7;

/* Parse text (n bytes, UTF-8).  The first segment must be MSH (or a batch
 * or file header is refused: one message per frame). */
ih_err ih_hl7_parse(const char *text, size_t n, ih_hl7 **out);
void ih_hl7_free(ih_hl7 *m);

const ih_hl7_delims *ih_hl7_delims_of(const ih_hl7 *m);
int ih_hl7_segment_count(const ih_hl7 *m);
/* The segment's three-letter name ("" if out of range). */
const char *ih_hl7_segment_name(const ih_hl7 *m, int seg);
/* Index of the nth (from 0) segment called name, or -1. */
int ih_hl7_find(const ih_hl7 *m, const char *name, int nth);
/* How many repetitions field has (0: empty or absent). */
int ih_hl7_reps(const ih_hl7 *m, int seg, int field);
/* The decoded value at seg/field/rep/comp/sub into out (replaced).  false:
 * absent or empty (out emptied).  IH_E_INVALID in *e (may be NULL) when the
 * value is present but its escapes decode to invalid UTF-8 or a NUL. */
bool ih_hl7_get(const ih_hl7 *m, int seg, int field, int rep, int comp, int sub, ih_buf *out, ih_err *e);
/* Shorthand: first segment `name`, field, component 1..n of repetition 1. */
bool ih_hl7_value(const ih_hl7 *m, const char *name, int field, int comp, ih_buf *out);

/* Append s to out with every delimiter and the escape character escaped. */
ih_err ih_hl7_escape(ih_buf *out, const char *s, const ih_hl7_delims *d);

/* A peer's bytes as UTF-8: charset "UTF-8" (checked) or "GB18030" (iconv). */
ih_err ih_hl7_to_utf8(const char *charset, const void *in, size_t n, ih_buf *out);
/* And back, for what is sent to a GB18030 peer. */
ih_err ih_hl7_from_utf8(const char *charset, const char *in, size_t n, ih_buf *out);

#endif
