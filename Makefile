# easeinv: PGXS build, install and tests.
#
#   make            build the module and the install script
#   make install    install into the PostgreSQL that pg_config points at
#   make test       install missing packages, build, install, run every test (test/run-tests.sh)
#   make demo       same set-up, then a short transcript on a throwaway instance
#   make bench      benchmarks (bench/), never part of make test
#   make fuzz       SQLsmith for FUZZ_MINUTES (default 5) against two seeded tenants (test/fuzz/),
#                   never part of make test; FUZZ_NO_INSTALL=1 fuzzes the installed build as is

EXTENSION   = easeinv
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = easeinv
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# One source of truth for the install and upgrade scripts: src/sql/<version>/*.sql holds what
# each release adds or changes.  The full script of version V is every version directory up to V
# in order; the upgrade script from the previous version to V is V's directory alone.  So every
# release ships its full script and its upgrade script, built from the same pieces.
VERSIONS    = $(shell ls src/sql | sort -V)
FULL_SCRIPTS = $(foreach v,$(VERSIONS),$(EXTENSION)--$(v).sql)
UPGRADE_SCRIPTS = $(foreach i,$(shell seq 2 $(words $(VERSIONS))),\
                    $(EXTENSION)--$(word $(shell expr $(i) - 1),$(VERSIONS))--$(word $(i),$(VERSIONS)).sql)
DATA_built  = $(FULL_SCRIPTS) $(UPGRADE_SCRIPTS)
EXTRA_CLEAN = $(DATA_built)

# pg_regress suite (sql/ + expected/), isolation specs (test/specs/), TAP tests (test/t/).
# Every suite starts its own temporary instance; none touches a running server.
REGRESS       = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS  = --temp-instance=tmp_check --temp-config=test/regress.conf
ISOLATION     = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/output_iso \
                 --temp-instance=tmp_check_iso --temp-config=test/regress.conf
TAP_TESTS     = 1
PROVE_TESTS   = $(sort $(wildcard test/t/*.pl))

# Compiled and tested against PostgreSQL 15 only (what Debian 12 ships); src/compat.h holds every
# PG_VERSION_NUM shim for 16-18, which has never been compiled here.
# -Wextra's unused-parameter fires inside PostgreSQL's own headers (bufpage.h), so it alone is off.
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter
PG_CPPFLAGS = -I$(srcdir)/src

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# After the include: Makefile.global resets PROVE_FLAGS.
PROVE_FLAGS += -I test/perl

# PGXS tracks no header dependencies: every object depends on every header, so a changed struct
# can never leave two objects disagreeing about its layout.
$(OBJS): $(wildcard src/*.h)

# easeinv--V.sql: every version directory up to V
$(FULL_SCRIPTS): $(EXTENSION)--%.sql: $(wildcard src/sql/*/*.sql) $(EXTENSION).control
	cat $(foreach v,$(VERSIONS),$(if $(shell test "$$(printf '%s\n%s\n' $(v) $* | sort -V | tail -n 1)" = "$*" && echo y),$(sort $(wildcard src/sql/$(v)/*.sql)))) > $@

# easeinv--A--B.sql: B's directory
$(UPGRADE_SCRIPTS): $(wildcard src/sql/*/*.sql)
	cat $(sort $(wildcard src/sql/$(lastword $(subst --, ,$(basename $@)))/*.sql)) > $@

.PHONY: test demo bench fuzz
test:
	./test/run-tests.sh

demo:
	./test/demo/run-demo.sh

bench:
	./bench/run-bench.sh

FUZZ_MINUTES ?= 5
fuzz:
	FUZZ_MINUTES=$(FUZZ_MINUTES) ./test/fuzz/run-fuzz.sh
