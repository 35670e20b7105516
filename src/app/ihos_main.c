/* ihos_main.c — `ihos <command> ...`: dispatch to a subcommand. */
#include "app/cli.h"
#include "core/json.h"
#include "core/log.h"
#include "core/proc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#ifndef IHOS_VERSION
#define IHOS_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"init", ih_cli_init, "init DIR [--suite intl|gm] [--store sqlite | --store postgres --pg-url URL]\n"
                          "       [--demo [--demo-patients N]] [--listen ADDR:PORT] [--name NAME]\n"
                          "       [--recovery-key-out FILE] [--kek-passphrase-fd N] [--config FILE]\n"
                          "                     create a new instance in DIR (must be empty or absent); prints the\n"
                          "                     recovery key once; --config puts ihos.conf at FILE (e.g.\n"
                          "                     /etc/ihos/ihos.conf) with DIR/ihos.conf a link to it; --demo fills\n"
                          "                     a synthetic hospital (--demo-patients: 10 to 1000, default 200)"},
    {"backup", ih_cli_backup, "backup create DIR --to PATH\n"
                              "                     an encrypted, signed backup of the running instance\n"
                              "  backup verify PATH [--pubkey AUDIT_PUB | --recovery-key-file FILE]\n"
                              "                     check a backup's signature and ciphertext without opening it"},
    {"restore", ih_cli_restore, "restore BACKUP DIR --recovery-key-file FILE [--pg-url URL]\n"
                                "                     restore into an empty DIR (and an empty PostgreSQL database)"},
    {"audit", ih_cli_audit, "audit verify DIR    recompute the journal, check every checkpoint; name the first problem\n"
                            "  audit accept-restore DIR\n"
                            "                     after restoring an older database on purpose, let ihosd start again\n"
                            "  audit prove DIR SEQ [--out FILE]\n"
                            "                     write an inclusion-proof bundle for event SEQ\n"
                            "  audit check-proof BUNDLE PUBKEY\n"
                            "                     verify a bundle offline with the audit public key (keys/audit.pub)\n"
                            "  audit checkpoint DIR\n"
                            "                     seal the journal with a signed checkpoint now\n"
                            "  audit archive DIR [--now TIME]\n"
                            "                     seal whole months older than [audit] retention_days into signed archives\n"
                            "  audit check-archive FILE PUBKEY\n"
                            "                     verify an archive file offline with the audit public key"},
    {"key", ih_cli_key, "key status DIR      data-key versions and the KEK each is wrapped by\n"
                        "  key rotate DIR --purpose P\n"
                        "                     add a data-key version (personal, clinical, totp, signing, secret)\n"
                        "  key move-kek DIR --pkcs11-module SO --pkcs11-token LABEL --pkcs11-pin-file FILE\n"
                        "                     [--pkcs11-key-label L]  keep the KEK inside a PKCS#11 token from now on\n"
                        "  key rotate-kek DIR [--new-passphrase-fd N]\n"
                        "                     replace the KEK (or, for a passphrase instance, the passphrase) and\n"
                        "                     rewrap every data key\n"
                        "  key reencrypt DIR [--grace-seconds N]\n"
                        "                     re-seal rows under old key versions now; retire unused versions"},
    {"integrity", ih_cli_integrity, "integrity scan DIR  check the MAC of every protected row"},
    {"report", ih_cli_report, "report status DIR   supervision uploads: queue by state and method, oldest pending\n"
                              "  report list DIR [--state S] [--after ID] [--limit N]\n"
                              "  report show DIR ID [--unmask]\n"
                              "                     one outbox row with its platform record (personal values masked\n"
                              "                     unless --unmask; audited either way)\n"
                              "  report retry DIR ID send a dead (or unknown) row again after a fix\n"
                              "  report set-secret DIR\n"
                              "                     store the platform appSecret (read from stdin) in the keyring\n"
                              "  report flush DIR    send everything due now, from this process"},
    {"rx", ih_cli_rx, "rx export DIR ID [--out FILE]\n"
                      "                     a prescription's offline verification bundle (0600)\n"
                      "  rx verify BUNDLE    check the doctor's and pharmacist's signatures offline"},
    {"icd", ih_cli_icd, "icd import DIR FILE load the ICD-10 code list (CSV: code,name)"},
    {"demo", ih_cli_demo, "demo seed DIR       fill an empty demo instance with a synthetic hospital"},
    {"tables", ih_cli_tables, "tables              the registry and care tables as described: sealed fields and keys,\n"
                              "                    blind indexes, row MACs, retention (Markdown)"},
    {"sbom", ih_cli_sbom, "sbom [--out FILE]   the libraries ihos is made of, with their Debian packages and\n"
                          "                     versions (CycloneDX JSON), for tracking known vulnerabilities"},
    {"trust", ih_cli_trust, "trust record DIR [--file /ABS/PATH]...\n"
                            "                     sign the digests of ihos, ihosd and ihos.conf (and more files) that\n"
                            "                     ihosd checks itself against; after an upgrade or a config change\n"
                            "  trust verify DIR    check them now (exit 1 and the first difference if any)"},
    {"selfcheck", ih_cli_selfcheck, "selfcheck DIR [--json FILE] [--html FILE]\n"
                                    "                     the Level 3 self-check of this live instance: every clause's\n"
                                    "                     verdict with its evidence (exit 1 when a high-risk item fails)"},
    {"filing", ih_cli_filing, "filing DIR --out OUTDIR\n"
                              "                     the filing pack: topology (SVG with graphviz), data inventory,\n"
                              "                     crypto inventory, self-check, bill of materials; signed manifest"},
    {"totp", ih_cli_totp, "totp qr [URI]       show an otpauth:// URI (from POST /api/v1/me/totp) as a QR code"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ihos <command> [arguments]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) fprintf(f, "  %s\n", commands[i].help);
    fprintf(f, "  help | --help      this text\n  version            print the version\n");
}

int main(int argc, char **argv)
{
    ih_proc_harden();
    ih_log_setup("stderr", IH_LOG_WARN, "ihos"); /* the CLI speaks in plain lines */
    ih_json_init();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("ihos %s\n", IHOS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ihos: unknown command '%s' (try 'ihos help')\n", cmd);
    return 2;
}
