# easeinv: PGXS build, install and tests.
#
#   make            build the module and the install script
#   make install    install into the PostgreSQL that pg_config points at
#   make test       install missing packages, build, install, run every test (test/run-tests.sh)
#   make demo       same set-up, then a short transcript on a throwaway instance
#   make bench      benchmarks (bench/), never part of make test

EXTENSION   = easeinv
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = easeinv
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# One source of truth for the install script: the pieces in src/sql/, concatenated in order.
SQL_PIECES  = $(sort $(wildcard src/sql/*.sql))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
DATA        = $(filter-out $(DATA_built),$(wildcard $(EXTENSION)--*.sql))
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

# -Wextra's unused-parameter fires inside PostgreSQL's own headers (bufpage.h), so it alone is off.
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter
PG_CPPFLAGS = -I$(srcdir)/src

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# After the include: Makefile.global resets PROVE_FLAGS.
PROVE_FLAGS += -I test/perl

$(DATA_built): $(SQL_PIECES) $(EXTENSION).control
	cat $(SQL_PIECES) > $@

.PHONY: test demo bench
test:
	./test/run-tests.sh

demo:
	./test/demo/run-demo.sh

bench:
	./bench/run-bench.sh
