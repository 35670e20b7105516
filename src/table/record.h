/* record.h — table-driven rows: one descriptor per table says, for each
 * field, its type, its limits, whether it is sealed (and under which key
 * purpose), blind-indexed, covered by the row MAC, and how it is masked.
 * From that one description come:
 *
 *   ih_row_from_json   validation of a request body (type, length, charset,
 *                      code-table membership, field checks), naming the field
 *   ih_row_insert/update/load
 *                      SQL (generated once per table, bound parameters only),
 *                      sealing with associated data table/column/row,
 *                      blind indexes, the row MAC (checked on every load)
 *   ih_row_json        the view for a viewer: every personal field through
 *                      policy/mask.h, hidden fields omitted
 *   ih_table_sealed_column, ih_table_scan
 *                      key rotation and integrity scans for free
 *
 * Columns: a plain field `x` is column x; a sealed field is x_enc (AEAD
 * ciphertext) and, when indexed, x_idx (HMAC of the normalised value under
 * the index key, domain "<table>.<x>"); a MAC'd table has `rv` and `mac`.
 * The id column is `id`, allocated by the caller (ih_tx_next_id) so that
 * ciphertexts can be bound to their row.
 *
 * Versions (rollback detection).  A MAC'd row's `rv` counts its writes and
 * is covered by its MAC; every write notes (table, id, rv) for the next
 * audit event (ih_tx_note_row), so the journal knows each audited version.
 * A load fails with IH_E_INTEGRITY when the row is older than the journal
 * says (an older copy with its old, valid MAC was put back), except for
 * append-only tables, whose rows never change (the integrity scan still
 * finds them missing).  An update only applies to the version it loaded.
 *
 * The MAC's layout grows without rewriting old rows: fields marked
 * IH_FF_ADDED (added by a later migration) and rv enter it only when set,
 * each named, so a row written before them verifies as it was written
 * (rv 0), and then no value put into a newer column is believed.
 */
#ifndef IH_TABLE_RECORD_H
#define IH_TABLE_RECORD_H

#include "audit/audit.h"
#include "table/codes.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "crypto/keyring.h"
#include "policy/mask.h"
#include "store/store.h"


typedef enum {
    IH_F_TEXT,   /* plaintext string */
    IH_F_SEALED, /* string stored sealed under the field's key purpose */
    IH_F_INT,
    IH_F_BOOL,
    IH_F_MONEY, /* fen in the database, "12.34" in JSON */
    IH_F_DATE,  /* "YYYY-MM-DD" */
    IH_F_TIME,  /* epoch ms in the database, ISO 8601 UTC in JSON (server-set) */
    IH_F_BLOB,  /* bytes (signatures), base64 in JSON (server-set) */
} ih_ftype;

enum {
    IH_FF_REQUIRED = 1 << 0,  /* must be present (and non-empty) at creation */
    IH_FF_MAC = 1 << 1,       /* covered by the row MAC */
    IH_FF_SERVER = 1 << 2,    /* set by code only, never from a request body */
    IH_FF_MULTILINE = 1 << 3, /* text may hold newlines and tabs */
    IH_FF_INDEX = 1 << 4,     /* sealed: also a blind index column */
    IH_FF_FIXED = 1 << 5,     /* settable at creation, refused in updates */
    IH_FF_PRIVATE = 1 << 6,   /* never in a JSON view */
    IH_FF_UPPER = 1 << 7,     /* text: stored upper-cased (certificate numbers) */
    IH_FF_ADDED = 1 << 8,     /* added after the table's first release: in the MAC only when set, named */
    IH_FF_LEGACY = 1 << 9,    /* an old column whose value moved to a sealed field: read, verified, cleared by the
                                 upgrade (ih_row_upgrade), never written, never shown */
};

#define IH_MASK_NONE (-1) /* shown as is (public or non-personal) */

typedef struct ih_row ih_row;

typedef struct ih_field {
    const char *name;
    ih_ftype type;
    unsigned flags;
    int64_t min, max;           /* characters for text; the range for numbers */
    const ih_code_table *codes; /* text: must be a code of this table */
    ih_key_purpose purpose;     /* sealed fields */
    int mask;                   /* an ih_field_kind, or IH_MASK_NONE */
    /* Extra check of a present value (the row holds the fields before it). */
    ih_err (*check)(const ih_row *row, const char *field, const char *value);
    /* The column's name when it is not the field's: a legacy column kept
     * only for rows written before its value moved elsewhere (IH_FF_LEGACY). */
    const char *column;
} ih_field;

#define IH_ROW_MAX_FIELDS 40

typedef struct ih_table {
    const char *name;
    const ih_field *fields;
    int n;
    bool mac;
    bool append_only; /* rows are inserted, never changed (only re-sealed): no version check at load */
    const char *retention; /* how long rows are kept at least, and the rule (health-rules.md); ihos deletes none */
    /* Generated once, on first use (kept for the life of the process: the
     * statement cache keys on their addresses). */
    char *sql_insert, *sql_update, *sql_select, *sql_scan, *sql_columns;
    char *sql_legacy; /* ids of rows a legacy field still holds a value in (NULL: none) */
    /* per key purpose: its sealed columns ("a_enc,b_enc"), the re-seal scan
     * and the count of rows under an older version (keys/reseal.h) */
    char *sealed_cols[IH_KP__COUNT], *sql_sealed[IH_KP__COUNT], *sql_count_old[IH_KP__COUNT];
} ih_table;

#define IH_TABLE(nm, arr, with_mac, keep)                                                                    \
    {.name = nm, .fields = arr, .n = (int)(sizeof arr / sizeof arr[0]), .mac = with_mac, .retention = keep}
#define IH_TABLE_APPEND_ONLY(nm, arr, keep)                                                                  \
    {.name = nm, .fields = arr, .n = (int)(sizeof arr / sizeof arr[0]), .mac = true, .append_only = true,     \
     .retention = keep}

typedef struct ih_val {
    bool set;  /* has a value (else NULL in the database) */
    int64_t i; /* INT, BOOL, MONEY, TIME; BLOB: its length */
    char *s;   /* TEXT, SEALED, DATE, BLOB (owned; wiped when freed) */
} ih_val;

struct ih_row {
    const ih_table *t;
    int64_t id;
    int64_t rv;  /* MAC'd tables: the version loaded, or written last */
    bool closed; /* loaded without opening its sealed fields: read-only */
    ih_val v[IH_ROW_MAX_FIELDS];
};

void ih_row_init(ih_row *r, const ih_table *t);
void ih_row_free(ih_row *r); /* wipes every string */

int ih_table_field(const ih_table *t, const char *name); /* index, or -1 */
/* Accessors by field name (programming errors abort in debug builds). */
const char *ih_row_str(const ih_row *r, const char *name); /* NULL when unset */
int64_t ih_row_int(const ih_row *r, const char *name);     /* 0 when unset */
bool ih_row_has(const ih_row *r, const char *name);
ih_err ih_row_set_str(ih_row *r, const char *name, const char *s); /* NULL unsets */
void ih_row_set_int(ih_row *r, const char *name, int64_t v);
ih_err ih_row_set_blob(ih_row *r, const char *name, const void *p, size_t n);
const uint8_t *ih_row_blob(const ih_row *r, const char *name, size_t *n); /* NULL when unset */
void ih_row_unset(ih_row *r, const char *name);

/* Validate body into r.  create: every REQUIRED field must be present and
 * FIXED fields are allowed; otherwise (an update) only the fields present
 * change and FIXED fields are refused.  Keys neither in the table (minus
 * SERVER fields) nor in `extra` are refused. */
ih_err ih_row_from_json(ih_row *r, json_t *body, bool create, const char *const *extra);

/* Check REQUIRED fields are set (for rows built by code, e.g. CSV import). */
ih_err ih_row_complete(const ih_row *r);

/* Both set r->rv to the version written; an update of a row changed since
 * it was loaded fails with IH_E_BUSY (PostgreSQL retries the transaction). */
ih_err ih_row_insert(ih_tx *tx, ih_keyring *k, ih_row *r);
ih_err ih_row_update(ih_tx *tx, ih_keyring *k, ih_row *r);
/* Load row id into r (initialised by the caller): sealed fields opened, the
 * MAC checked (IH_E_INTEGRITY on mismatch).  *found false if no such row. */
ih_err ih_row_load(ih_tx *tx, ih_keyring *k, const ih_table *t, int64_t id, ih_row *r, bool *found);
/* The same with open=false: the MAC is checked but sealed fields stay
 * unopened (reported unset): for hot paths that need only plain fields. */
ih_err ih_row_load_opt(ih_tx *tx, ih_keyring *k, const ih_table *t, int64_t id, ih_row *r, bool *found, bool open);
/* Load from the current row of a statement that selected the table's
 * columns in order (the table's select list, see ih_table_columns). */
ih_err ih_row_from_stmt(ih_stmt *st, int first_col, ih_keyring *k, const ih_table *t, ih_row *r);
ih_err ih_row_from_stmt_opt(ih_stmt *st, int first_col, ih_keyring *k, const ih_table *t, ih_row *r, bool open);
/* A row and the rows some of its INT columns reference (a visit, its patient
 * and its doctor), read in one statement: one round trip instead of one per
 * row, each row checked as ih_row_load_opt checks it.  Declare one per
 * query, static (its SQL is made on first use and kept: the statement cache
 * keys on its address):
 *   static ih_row_join j = {&ih_t_visit, {{"patient_id", &ih_t_patient}}, 1};
 * ih_row_load_join: r (the row id, opened as `open` says) and *refs[i] (of
 * table ref[i].t, unopened), each initialised by the caller; *found false
 * when there is no row id; ref_found[i] false when its column is empty or
 * names no row. */
#define IH_JOIN_MAX 3
typedef struct ih_row_join {
    const ih_table *t;
    struct {
        const char *field;
        const ih_table *t;
    } ref[IH_JOIN_MAX];
    int n;
    char *sql;
    int first[IH_JOIN_MAX]; /* the column each referenced row starts at */
} ih_row_join;
ih_err ih_row_load_join(ih_tx *tx, ih_keyring *k, ih_row_join *j, int64_t id, ih_row *r, bool open,
                        ih_row *const *refs, bool *found, bool *ref_found);
/* "id, a, b_enc, b_idx, …, rv, mac, <the version the journal knows>" — for
 * callers writing their own SELECT … FROM the table (unaliased). */
const char *ih_table_columns(const ih_table *t);

/* The blind index of a value for field `name` of table t. */
ih_err ih_row_index(ih_keyring *k, const ih_table *t, const char *name, const char *value, uint8_t out[32]);

/* The view of r for a viewer: {"id":…, field:value…}; personal fields
 * through ih_mask_view(role, rel, mask); code fields add "<name>_name". */
ih_err ih_row_json(const ih_row *r, ih_role role, ih_relation rel, json_t **out);

/* The same view written as members of the object w has open (the caller
 * opens and closes it, and may add members of its own); errors stay in w. */
void ih_row_json_write(const ih_row *r, ih_role role, ih_relation rel, ih_jw *w);

/* Every field in full: only for rows that hold nothing personal of someone
 * other than the viewer (a justification the viewer reviews, say). */
ih_err ih_row_json_full(const ih_row *r, json_t **out);

/* Key rotation: one reseal entry per key purpose the table's sealed
 * fields use (keys/reseal.h); returns how many.  ctx must outlive them. */
typedef struct ih_table_ctx {
    const ih_table *t;
    ih_keyring *k;
    void *owner; /* the module the table belongs to */
} ih_table_ctx;
struct ih_sealed_column;
size_t ih_table_sealed_columns(ih_table_ctx *ctx, struct ih_sealed_column *out, size_t cap);

/* Integrity scan: load every row; count rows and failures; `bad` gets
 * called for each failing id. */
ih_err ih_table_scan(ih_store *s, ih_keyring *k, const ih_table *t, uint64_t *rows, uint64_t *nbad,
                     void (*bad)(void *ctx, const ih_table *t, int64_t id), void *ctx);

/* Rows of t whose legacy fields (IH_FF_LEGACY) still hold a value: each is
 * loaded (so its MAC verifies as written), moved by `move` (e.g. its text
 * into the sealed field that replaced the column), the legacy value
 * cleared, and saved as a new version, audited by the system as `action`.
 * Idempotent; *n gets how many rows moved. */
typedef ih_err (*ih_row_move_fn)(ih_row *r);
/* The usual move: each legacy field "<x>_legacy" into the field "<x>". */
ih_err ih_row_move_legacy(ih_row *r);
ih_err ih_row_upgrade(ih_store *s, ih_keyring *k, ih_audit *a, const ih_table *t, ih_row_move_fn move,
                      const char *action, int *n);

/* Money as "12.34" into out (>= 24 bytes). */
void ih_money_text(int64_t fen, char *out, size_t n);

#endif
