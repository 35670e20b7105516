/* schema.c — every schema migration, oldest first.
 *
 * Written in SQLite's dialect; the store translates INTEGER/BLOB for
 * PostgreSQL, or a migration carries explicit PostgreSQL text.  Released
 * migrations are never edited: a change is a new migration.  Times are
 * UTC epoch milliseconds; ids come from ih_tx_next_id().
 */
#include "app/instance.h"

const ih_migration ih_schema[] = {
    {1, "instance",
     "CREATE TABLE instance_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
     NULL},
};

const size_t ih_schema_count = sizeof ih_schema / sizeof ih_schema[0];
