/* mask.h — what of a personal field each role sees (DESIGN §3.7, L3 8.1.4.11).
 *
 * One table decides, per role, per relationship to the person and per
 * field, whether a view shows the value in full, masked, or not at all;
 * every view that shows personal data asks ih_mask_view() and nothing else.
 * Relationships:
 *   SELF   the person is the viewer (a patient reading their own profile)
 *   CARE   the viewer treats the person (a consultation, a prescription
 *          under review, a logged break-glass)
 *   OTHER  anything else: lists, administration, searches
 * Maskings:
 *   name     first character, then one * per further character   张三丰 → 张**
 *   id       18-digit 身份证 with a valid checksum: 6 + 8×* + 4  110101********1234;
 *            anything else: first 2 and last 2 kept when longer than 6, else all *
 *   phone    11-digit mobile: 3 + **** + 4  138****5678; other numbers: all
 *            but the last 4 digits replaced
 *   address  kept up to the last 省/市/区/县/旗/镇 in the first 12 characters
 *            (else the first 3), then ****
 *   birth    the year only: 1990-**-**
 *   clinical never partly shown: full, or hidden
 * Masking works on UTF-8 characters, never splits one, and never returns
 * more of the value than its rule allows, whatever the input looks like.
 */
#ifndef IH_POLICY_MASK_H
#define IH_POLICY_MASK_H

#include "core/buf.h"
#include "policy/perm.h"

typedef enum ih_field_kind {
    IH_FIELD_NAME = 0,
    IH_FIELD_ID_NUMBER,
    IH_FIELD_PHONE,
    IH_FIELD_ADDRESS,
    IH_FIELD_BIRTH_DATE,
    IH_FIELD_CLINICAL, /* allergies, complaints, diagnoses, messages: whole or nothing */
    IH_FIELD__COUNT
} ih_field_kind;

typedef enum ih_relation { IH_REL_SELF = 0, IH_REL_CARE, IH_REL_OTHER, IH_REL__COUNT } ih_relation;

typedef enum ih_visibility { IH_VIS_HIDDEN = 0, IH_VIS_MASKED, IH_VIS_FULL } ih_visibility;

/* The table's answer. */
ih_visibility ih_mask_visibility(ih_role viewer, ih_relation rel, ih_field_kind f);

/* Apply the kind's masking to value into out (NUL-terminated). */
ih_err ih_mask_apply(ih_field_kind f, const char *value, ih_buf *out);

/* The view of value for this viewer: out receives the full or masked text;
 * returns false (out left empty) when the field is hidden or value NULL. */
bool ih_mask_view(ih_role viewer, ih_relation rel, ih_field_kind f, const char *value, ih_buf *out);

/* GB 11643-1999: 18 characters, 17 digits and a check character (0-9 or X)
 * that matches the ISO 7064 MOD 11-2 checksum, and a plausible birth date. */
bool ih_idcard_valid(const char *s);
/* The check character for the first 17 digits ('\0' if one is not a digit). */
char ih_idcard_check(const char *first17);

const char *ih_field_kind_name(ih_field_kind f);

#endif
