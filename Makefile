# ihos — build with plain GNU make (why: docs/ARCHITECTURE.md, "Build").
#
#   make run     install packages if missing, build, create ./demo, start ihosd
#   make test    install packages if missing, sanitizer build, every test
#   make bench   release build, benchmarks with their baselines
#   make fuzz    libFuzzer targets (clang), FUZZ_SECONDS each
#   make         release binaries build/ihosd and build/ihos
#   make install DESTDIR= PREFIX=/usr/local   binaries, man pages, systemd unit,
#                sysusers and tmpfiles entries, logrotate (docs/deployment.md)
#   make deb     the Debian package, in build/deb (dpkg-buildpackage, lintian)
#   make cluster two ihosd nodes on a Patroni pair behind HAProxy, on 127.0.0.1
#
# Top-level targets first make sure the Debian packages are present, then
# re-invoke make so that pkg-config sees them.

SHELL := /bin/bash
VERSION := 0.1.0
# `make` alone: the release binaries (the generated-source rules below come
# before `all` and would otherwise be the default).
.DEFAULT_GOAL := all

PKGS := openssl libsodium sqlite3 libpq jansson inih libcurl libqrencode libzstd
# p11-kit-1: only its PKCS#11 header; modules are loaded with dlopen (crypto/pkcs11.h)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) p11-kit-1 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS = $(PKG_LIBS) -lcsv -lpthread -lm

CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-missing-field-initializers -Wvla
# llhttp (Node.js's HTTP parser) is built from the C sources Debian ships
# and keeps patched in package node-llhttp (docs/ARCHITECTURE.md, "HTTP server").
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
BASE_CFLAGS = -std=c17 -D_GNU_SOURCE -DIHOS_VERSION=\"$(VERSION)\" -Isrc -isystem $(LLHTTP_INC) $(WARN) \
              $(PKG_CFLAGS) -MMD -MP

MODE ?= release
ifeq ($(MODE),release)
  OUT := build
  MODE_CFLAGS := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -fstack-clash-protection
  MODE_LDFLAGS := -pie -Wl,-z,relro,-z,now
else ifeq ($(MODE),san)
  OUT := build/san
  MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),noaudit)
  # bench only: the audit append is stubbed out, to measure what auditing costs
  OUT := build/noaudit
  MODE_CFLAGS := -O2 -g -fPIE -DIHOS_BENCH_NO_AUDIT
  MODE_LDFLAGS := -pie
else ifeq ($(MODE),fuzz)
  OUT := build/fuzz
  CC := clang
  MODE_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
  MODE_LDFLAGS := -fsanitize=fuzzer,address,undefined
else
  $(error MODE must be release, san, noaudit or fuzz)
endif

CFLAGS_ALL = $(BASE_CFLAGS) $(MODE_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(MODE_LDFLAGS) $(LDFLAGS)

MAINS := src/app/ihosd_main.c src/app/ihos_main.c
LIB_SRC := $(filter-out $(MAINS),$(wildcard src/*/*.c))
LIB_OBJ := $(patsubst src/%.c,$(OUT)/obj/%.o,$(LIB_SRC)) $(OUT)/obj/gen/common_passwords.o \
           $(OUT)/obj/gen/weak_words.o $(patsubst %,$(OUT)/obj/llhttp/%.o,llhttp api http)

# Debian's llhttp sources, compiled as they are (their own warnings are theirs).
$(OUT)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) -std=c17 -I$(LLHTTP_INC) $(MODE_CFLAGS) -w -c $< -o $@

# The bill of materials names the node-llhttp version compiled in.
$(OUT)/obj/compliance/sbom.o: CFLAGS_ALL += -DIH_LLHTTP_DEB_VERSION=\"$(shell dpkg-query -W -f='$${Version}' node-llhttp 2>/dev/null)\"

# The common-password and weak-word lists are compiled in, sorted, from data/.
$(OUT)/gen/common_passwords.c: data/common-passwords.txt scripts/gen-wordlist.sh
	@mkdir -p $(dir $@)
	@scripts/gen-wordlist.sh $< ih_common_passwords > $@
$(OUT)/gen/weak_words.c: data/weak-words.txt scripts/gen-wordlist.sh
	@mkdir -p $(dir $@)
	@scripts/gen-wordlist.sh $< ih_weak_words > $@
$(OUT)/obj/gen/%.o: $(OUT)/gen/%.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(TEST_SRC))
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))

.PHONY: all bins tests fuzzers benches run test bench fuzz clean deps deps-test deps-bench format install deb cluster

all:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory bins

bins: $(OUT)/ihosd $(OUT)/ihos $(OUT)/web/app.html

# The web console, beside the binaries (ihosd finds web/ next to itself).
WEB_SRC := $(shell find web -type f 2>/dev/null)
$(OUT)/web/app.html: $(WEB_SRC) scripts/build-web.py
	@echo "WEB $(OUT)/web"
	@python3 scripts/build-web.py web $(OUT)/web

$(OUT)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(OUT)/libihos.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(OUT)/ihosd: $(OUT)/obj/app/ihosd_main.o $(OUT)/libihos.a
	@echo "LD $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/ihos: $(OUT)/obj/app/ihos_main.o $(OUT)/libihos.a
	@echo "LD $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(OUT)/tests/%: tests/unit/%.c $(TEST_SUPPORT) $(OUT)/libihos.a
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS_ALL) -o $@ $< $(TEST_SUPPORT) $(OUT)/libihos.a \
	    $(LIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

tests: $(TEST_BIN) $(OUT)/ihosd $(OUT)/ihos $(OUT)/web/app.html

FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst fuzz/%.c,$(OUT)/%,$(FUZZ_SRC))
$(OUT)/fuzz_%: fuzz/fuzz_%.c $(OUT)/libihos.a
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(OUT)/libihos.a $(LIBS)
fuzzers: $(FUZZ_BIN)

BENCH_SRC := $(wildcard bench/*_bench.c)
BENCH_BIN := $(patsubst bench/%.c,$(OUT)/bench/%,$(BENCH_SRC))
$(OUT)/bench/%: bench/%.c $(OUT)/libihos.a
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(OUT)/libihos.a $(LIBS)
benches: $(BENCH_BIN)

run:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory bins
	@scripts/run-demo.sh

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory MODE=san tests
	@scripts/test.sh

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory bins benches
	@$(MAKE) --no-print-directory MODE=noaudit bins
	@bench/run.sh

FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh test
	@fuzz/run.sh fuzz $(FUZZ_SECONDS)

# ---- installation -----------------------------------------------------------------
# The binaries are built first (plain `make`); install only copies.  The unit
# names ihosd by its installed path.  Debian's rules set PREFIX=/usr and
# UNITDIR=/lib/systemd/system.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/ihos
LIBDIR_SYSTEMD ?= $(PREFIX)/lib
UNITDIR ?= $(LIBDIR_SYSTEMD)/systemd/system
SYSCONFDIR ?= /etc
WEBDIR ?= $(PREFIX)/share/ihos/web
install: build/ihosd build/ihos build/web/app.html
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(WEBDIR)/assets \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LIBDIR_SYSTEMD)/sysusers.d $(DESTDIR)$(LIBDIR_SYSTEMD)/tmpfiles.d \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(DOCDIR)
	install -m 0755 build/ihos $(DESTDIR)$(BINDIR)/ihos
	install -m 0755 build/ihosd $(DESTDIR)$(SBINDIR)/ihosd
	install -m 0644 build/web/*.html build/web/*.html.gz $(DESTDIR)$(WEBDIR)/
	install -m 0644 build/web/assets/* $(DESTDIR)$(WEBDIR)/assets/
	install -m 0644 docs/man/ihos.1 $(DESTDIR)$(MANDIR)/man1/ihos.1
	install -m 0644 docs/man/ihosd.8 $(DESTDIR)$(MANDIR)/man8/ihosd.8
	sed 's|@SBINDIR@|$(SBINDIR)|g' dist/ihos.service > $(DESTDIR)$(UNITDIR)/ihos.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ihos.service
	install -m 0644 dist/ihos.sysusers $(DESTDIR)$(LIBDIR_SYSTEMD)/sysusers.d/ihos.conf
	install -m 0644 dist/ihos.tmpfiles $(DESTDIR)$(LIBDIR_SYSTEMD)/tmpfiles.d/ihos.conf
	install -m 0644 dist/ihos.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/ihos
	install -m 0644 README.md docs/deployment.md docs/configuration.md docs/security.md docs/audit.md \
	    docs/data-protection.md docs/supervision.md docs/care.md docs/console.md docs/exchange.md docs/remote-care.md $(DESTDIR)$(DOCDIR)/

deb:
	@scripts/deps.sh deb
	@scripts/build-deb.sh

cluster:
	@scripts/deps.sh cluster
	@$(MAKE) --no-print-directory bins
	@scripts/run-cluster.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(OUT)/obj/app/ihosd_main.d $(OUT)/obj/app/ihos_main.d
