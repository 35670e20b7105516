/* allergy.c — drug allergy classes: which classes a text names.
 *
 * A prescription of a drug in a class the patient is recorded as allergic
 * to needs the doctor's explicit override with a reason (rx.c).  Patients
 * record allergies as free text ("青霉素过敏", "对磺胺类药物过敏"); drugs
 * carry an optional allergy_class, and their names say the rest ("阿莫西林"
 * is a penicillin).  Both are read through the same keyword table, so a
 * patient's "阿莫西林过敏" and a drug called "阿莫西林胶囊" meet in the class
 * "penicillin".  A keyword that over-matches costs an override, never a
 * missed allergy; the table errs that way. */
#include "registry/clinic_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *cls;
    const char *const words[12];
} keywords[] = {
    {"aminoglycoside", {"氨基糖苷", "庆大霉素", "阿米卡星", "链霉素", "妥布霉素", "新霉素", "gentamicin", "amikacin",
                        "streptomycin", NULL}},
    {"cephalosporin", {"头孢", "先锋霉素", "ceph", "cef", NULL}},
    {"contrast_iodine", {"碘造影", "造影剂", "碘过敏", "碘海醇", "iodine", "contrast", NULL}},
    {"macrolide", {"大环内酯", "红霉素", "阿奇霉素", "克拉霉素", "罗红霉素", "erythromycin", "azithromycin",
                   "clarithromycin", NULL}},
    {"nsaid", {"非甾体", "阿司匹林", "布洛芬", "双氯芬酸", "萘普生", "吲哚美辛", "塞来昔布", "aspirin", "ibuprofen",
               "diclofenac", "naproxen", NULL}},
    {"penicillin", {"青霉素", "西林", "penicillin", "amoxicillin", "ampicillin", NULL}},
    {"quinolone", {"喹诺酮", "沙星", "floxacin", NULL}},
    {"sulfonamide", {"磺胺", "新诺明", "sulfa", NULL}},
    {"tetracycline", {"四环素", "多西环素", "米诺环素", "tetracycline", "doxycycline", "minocycline", NULL}},
};

/* Case-insensitive for ASCII; Chinese matched as bytes. */
static bool contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return false;
}

static int class_index(const char *cls)
{
    for (size_t i = 0; i < ih_codes_allergy_class.n; i++)
        if (!strcmp(ih_codes_allergy_class.codes[i].code, cls)) return (int)i;
    return -1;
}

unsigned cl_allergy_classes(const char *text)
{
    unsigned mask = 0;
    if (!text) return 0;
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
        for (const char *const *w = keywords[k].words; *w; w++)
            if (contains(text, *w)) {
                int i = class_index(keywords[k].cls);
                if (i >= 0) mask |= 1u << i;
                break;
            }
    return mask;
}

unsigned cl_allergy_class_bit(const char *code)
{
    int i = code ? class_index(code) : -1;
    return i >= 0 ? 1u << i : 0;
}

/* The classes in mask, by code or by name, joined with sep; whole entries
 * only (what does not fit in n is left out). */
static void join_classes(unsigned mask, bool names, char sep, char *out, size_t n)
{
    const char between[2] = {sep, '\0'};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ih_codes_allergy_class.n; i++)
        if (mask & (1u << i)) {
            const char *v = names ? ih_codes_allergy_class.codes[i].name : ih_codes_allergy_class.codes[i].code;
            int w = snprintf(out + used, n - used, "%s%s", used ? between : "", v);
            if (w < 0 || (size_t)w >= n - used) { /* never a cut entry */
                out[used] = '\0';
                break;
            }
            used += (size_t)w;
        }
}

void cl_allergy_names(unsigned mask, char *out, size_t n) { join_classes(mask, true, '/', out, n); }

void cl_allergy_codes(unsigned mask, char *out, size_t n) { join_classes(mask, false, '|', out, n); }
