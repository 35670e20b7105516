/* test_mask.c — the masking table and the maskings (DESIGN §3.7). */
#include "support.h"

#include "policy/mask.h"

#include <stdio.h>
#include <string.h>

/* A synthetic 身份证 number: region, birth date, sequence, and the check
 * character computed here from GB 11643 (independently of the module). */
static void make_id(const char *first17, char out[19])
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (first17[i] - '0') * w[i];
    memcpy(out, first17, 17);
    out[17] = "10X98765432"[sum % 11];
    out[18] = '\0';
}

static ih_buf mbuf = IH_BUF_INIT; /* freed in main */

static const char *masked(ih_field_kind f, const char *v)
{
    T_OK(ih_mask_apply(f, v, &mbuf));
    return mbuf.p ? mbuf.p : "";
}

static void t_idcard_checksum(void **state)
{
    (void)state;
    char id[19];
    make_id("11010119900307123", id);
    assert_true(ih_idcard_valid(id));
    char bad[19];
    memcpy(bad, id, 19);
    bad[17] = bad[17] == '0' ? '1' : '0'; /* wrong check character */
    assert_false(ih_idcard_valid(bad));
    make_id("11010119901307123", id); /* month 13 */
    assert_false(ih_idcard_valid(id));
    make_id("11010119010229123", id); /* 1901 is not a leap year */
    assert_false(ih_idcard_valid(id));
    make_id("11010120000229123", id); /* 2000 is */
    assert_true(ih_idcard_valid(id));
    assert_false(ih_idcard_valid("11010119900307123"));   /* 17 characters */
    assert_false(ih_idcard_valid("1101011990030712345")); /* 19 */
    assert_false(ih_idcard_valid("11010119900307A23X"));
    assert_false(ih_idcard_valid(NULL));
    /* A lower-case x is accepted as the check character X. */
    for (int seq = 0; seq < 1000; seq++) {
        char f17[32];
        snprintf(f17, sizeof f17, "33010619850610%03d", seq);
        make_id(f17, id);
        if (id[17] == 'X') {
            id[17] = 'x';
            assert_true(ih_idcard_valid(id));
            return;
        }
    }
    fail_msg("no sequence gave an X check character");
}

static void t_maskings(void **state)
{
    (void)state;
    char id[19];
    make_id("11010119900307123", id);
    char want[32];
    snprintf(want, sizeof want, "110101********%s", id + 14);
    assert_string_equal(masked(IH_FIELD_ID_NUMBER, id), want);
    /* An invalid 18-character number is not shown as if it were one. */
    char bad[19];
    memcpy(bad, id, 19);
    bad[17] = bad[17] == '0' ? '1' : '0';
    const char *m = masked(IH_FIELD_ID_NUMBER, bad);
    assert_int_equal(strlen(m), 18);
    assert_memory_equal(m, "11", 2);
    assert_memory_equal(m + 2, "**************", 14);
    assert_string_equal(masked(IH_FIELD_ID_NUMBER, "E1234567"), "E1****67"); /* passport */
    assert_string_equal(masked(IH_FIELD_ID_NUMBER, "123456"), "******");
    assert_string_equal(masked(IH_FIELD_ID_NUMBER, ""), "");

    assert_string_equal(masked(IH_FIELD_NAME, "张三"), "张*");
    assert_string_equal(masked(IH_FIELD_NAME, "欧阳娜娜"), "欧***");
    assert_string_equal(masked(IH_FIELD_NAME, "李"), "李");
    assert_string_equal(masked(IH_FIELD_NAME, "Ann Lee"), "A******");
    assert_string_equal(masked(IH_FIELD_NAME, ""), "");

    assert_string_equal(masked(IH_FIELD_PHONE, "13812345678"), "138****5678");
    assert_string_equal(masked(IH_FIELD_PHONE, "022-23456789"), "***-****6789");
    assert_string_equal(masked(IH_FIELD_PHONE, "+86 138 1234 5678"), "+** *** **** 5678");
    assert_string_equal(masked(IH_FIELD_PHONE, "1234"), "1234");
    assert_string_equal(masked(IH_FIELD_PHONE, "12a4567"), "***4567");

    assert_string_equal(masked(IH_FIELD_ADDRESS, "天津市和平区南京路100号3门101"), "天津市和平区****");
    assert_string_equal(masked(IH_FIELD_ADDRESS, "河北省石家庄市长安区中山东路1号"), "河北省石家庄市长安区****");
    assert_string_equal(masked(IH_FIELD_ADDRESS, "Room 5, 1 Main Street"), "Roo****");
    assert_string_equal(masked(IH_FIELD_ADDRESS, "ab"), "****");

    assert_string_equal(masked(IH_FIELD_BIRTH_DATE, "1990-03-07"), "1990-**-**");
    assert_string_equal(masked(IH_FIELD_BIRTH_DATE, "7 March 1990"), "****-**-**");
}

/* Masked output never carries the hidden part, for any input: the
 * birth-date digits of an ID number and the middle of a phone are gone. */
static void t_masked_output_reveals_nothing_hidden(void **state)
{
    (void)state;
    char f17[32], id[19];
    for (int i = 0; i < 500; i++) {
        snprintf(f17, sizeof f17, "4403051975%02d%02d%03d", 1 + i % 12, 1 + i % 28, i);
        make_id(f17, id);
        const char *m = masked(IH_FIELD_ID_NUMBER, id);
        assert_int_equal(strlen(m), 18);
        assert_memory_equal(m + 6, "********", 8);
        char phone[12];
        snprintf(phone, sizeof phone, "13%09d", i * 7919);
        m = masked(IH_FIELD_PHONE, phone);
        assert_memory_equal(m + 3, "****", 4);
    }
    /* Broken UTF-8 is masked without reading past the end. */
    assert_string_equal(masked(IH_FIELD_NAME, "\xe5\xbc"), "\xe5*");
    assert_string_equal(masked(IH_FIELD_ADDRESS, "\xe5\xbc\xa0\xe5"), "****");
}

static void t_visibility_table(void **state)
{
    (void)state;
    for (int r = IH_ROLE_PATIENT; r < IH_ROLE__COUNT; r++)
        for (int f = 0; f < IH_FIELD__COUNT; f++) {
            /* Everyone sees their own data in full. */
            assert_int_equal(ih_mask_visibility((ih_role)r, IH_REL_SELF, (ih_field_kind)f), IH_VIS_FULL);
            /* Outside care, nobody sees another's full ID number, phone or address. */
            if (f != IH_FIELD_NAME && f != IH_FIELD_BIRTH_DATE)
                assert_int_not_equal(ih_mask_visibility((ih_role)r, IH_REL_OTHER, (ih_field_kind)f), IH_VIS_FULL);
            /* The auditor and patients see nothing of other people. */
            if (r == IH_ROLE_AUDITADMIN || r == IH_ROLE_PATIENT) {
                assert_int_equal(ih_mask_visibility((ih_role)r, IH_REL_CARE, (ih_field_kind)f), IH_VIS_HIDDEN);
                assert_int_equal(ih_mask_visibility((ih_role)r, IH_REL_OTHER, (ih_field_kind)f), IH_VIS_HIDDEN);
            }
        }
    /* The doctor treating a patient: full name, masked ID and phone. */
    ih_buf b = IH_BUF_INIT;
    assert_true(ih_mask_view(IH_ROLE_DOCTOR, IH_REL_CARE, IH_FIELD_NAME, "张三", &b));
    assert_string_equal(b.p, "张三");
    assert_true(ih_mask_view(IH_ROLE_DOCTOR, IH_REL_CARE, IH_FIELD_PHONE, "13812345678", &b));
    assert_string_equal(b.p, "138****5678");
    /* The same doctor, no relationship: a masked name, nothing else. */
    assert_true(ih_mask_view(IH_ROLE_DOCTOR, IH_REL_OTHER, IH_FIELD_NAME, "张三", &b));
    assert_string_equal(b.p, "张*");
    assert_false(ih_mask_view(IH_ROLE_DOCTOR, IH_REL_OTHER, IH_FIELD_PHONE, "13812345678", &b));
    assert_int_equal(b.len, 0);
    /* Out-of-range arguments hide. */
    assert_int_equal(ih_mask_visibility(IH_ROLE_NONE, IH_REL_SELF, IH_FIELD_NAME), IH_VIS_HIDDEN);
    assert_int_equal(ih_mask_visibility(IH_ROLE__COUNT, IH_REL_SELF, IH_FIELD_NAME), IH_VIS_HIDDEN);
    assert_false(ih_mask_view(IH_ROLE_NURSE, IH_REL_SELF, IH_FIELD_NAME, NULL, &b));
    ih_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest t[] = {cmocka_unit_test(t_idcard_checksum), cmocka_unit_test(t_maskings),
                                   cmocka_unit_test(t_masked_output_reveals_nothing_hidden),
                                   cmocka_unit_test(t_visibility_table)};
    int rc = cmocka_run_group_tests_name("mask", t, NULL, NULL);
    ih_buf_free(&mbuf);
    return rc;
}
