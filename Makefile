# segmentd — see README.md. `make` builds build/segmentd; `make run` serves it on a local
# PostgreSQL kept under var/; `make test` runs every test; `make asan` runs them under
# AddressSanitizer and UndefinedBehaviorSanitizer.

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wwrite-strings -Wformat=2 -fno-common
PKGS     = libmicrohttpd jansson libuv libpq libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -Ilib -Irules -Ianalytics -Iserver -Idb -Ihandlers -I$(BUILD)/gen
CFLAGS   += $(OPT) $(WARN) $(PKG_CFLAGS) $(SAN)
LDFLAGS  += $(SAN)
LDLIBS   += $(PKG_LIBS) -lcsv -lpthread -lm

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)

LIB_SRC    := $(wildcard lib/*.c)
RULES_SRC  := $(wildcard rules/*.c)
ANALYTICS_SRC := $(wildcard analytics/*.c)
DAEMON_SRC := $(wildcard server/*.c handlers/*.c db/*.c)
GEN_SRC    := $(BUILD)/gen/embedded.c
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
RULES_OBJ  := $(RULES_SRC:%.c=$(BUILD)/obj/%.o)
ANALYTICS_OBJ := $(ANALYTICS_SRC:%.c=$(BUILD)/obj/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/embedded.o
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60

# Database-level tests: db/ linked alone, run by tests/api against the harness's PostgreSQL.
DBTEST_SRC := $(wildcard tests/db/*.c)
DBTEST_BIN := $(DBTEST_SRC:tests/db/%.c=$(BUILD)/tests/db_%)
DB_OBJ     := $(filter $(BUILD)/obj/db/%,$(DAEMON_OBJ)) $(BUILD)/obj/gen/embedded.o

# Reference tests of the analytics engines: tests/analytics/NAME_driver.c is a small program
# over analytics/ (matrices in, JSON out) that tests/analytics/test_NAME.py runs beside
# NumPy, SciPy and scikit-learn on the same data (tests/run.sh part g).
ANADRV_SRC := $(wildcard tests/analytics/*_driver.c)
ANADRV_BIN := $(ANADRV_SRC:tests/analytics/%_driver.c=$(BUILD)/tests/analytics_%)

.PHONY: all deps run test asan unit clean format check-format fuzz fuzz-build FORCE
all: $(BUILD)/segmentd $(UNIT_BIN) $(DBTEST_BIN) $(ANADRV_BIN)

$(BUILD)/segmentd: $(DAEMON_OBJ) $(ANALYTICS_OBJ) $(RULES_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c $(wildcard lib/*.h rules/*.h analytics/*.h server/*.h db/*.h handlers/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The version is rewritten only when it changes, so objects rebuild exactly then.
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define SEG_VERSION "$(VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
FORCE:

$(BUILD)/obj/server/main.o $(BUILD)/obj/server/serve.o: $(BUILD)/gen/version.h

$(BUILD)/obj/gen/embedded.o: $(GEN_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Migrations and openapi.yaml are compiled into the binary, so it runs from anywhere.
$(GEN_SRC): scripts/embed.sh $(MIGRATIONS) openapi.yaml
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $(MIGRATIONS) openapi.yaml > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/db_%: tests/db/%.c $(DB_OBJ) $(ANALYTICS_OBJ) $(RULES_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/analytics_%: tests/analytics/%_driver.c $(wildcard tests/analytics/*.h) $(ANALYTICS_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(ANALYTICS_OBJ) $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(ANALYTICS_OBJ) $(RULES_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) -lcmocka

# libFuzzer drivers of the parsers (clang), with the rules/ and lib/ sources compiled in.
# `make fuzz` explores for FUZZ_SECONDS each, keeping new inputs under build/fuzz/; `make test`
# replays the committed corpus in tests/fuzz/corpus/, then lets fuzz_rules and fuzz_bodies
# explore for FUZZ_SECONDS each, in parallel (tests/run.sh; FUZZ_SECONDS=0 skips that).
build/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(LIB_SRC) $(RULES_SRC) $(wildcard lib/*.h rules/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -Ilib -Irules -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $(PKG_CFLAGS) -o $@ $< $(LIB_SRC) $(RULES_SRC) -ljansson -lm

fuzz-build: $(FUZZ_BIN)

fuzz: deps fuzz-build
	for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
		d=; [ -f tests/fuzz/$$n.dict ] && d=-dict=tests/fuzz/$$n.dict; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $$d build/fuzz/corpus/$$n \
		tests/fuzz/corpus/$$n || exit 1; done

deps:
	sh scripts/deps.sh

run: deps
	$(MAKE) all
	sh scripts/run.sh

unit: $(UNIT_BIN)
	sh tests/run.sh --unit-only $(BUILD)

test: deps
	$(MAKE) all
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/run.sh $(BUILD)

asan: deps
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	        SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all
	SEGMENTD_SANITIZED=1 FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/run.sh build/asan

format:
	clang-format -i $(wildcard lib/*.[ch] rules/*.[ch] analytics/*.[ch] server/*.[ch] db/*.[ch] handlers/*.[ch] tests/unit/*.[ch] tests/db/*.c tests/fuzz/*.c tests/analytics/*.[ch])

check-format:
	clang-format --dry-run --Werror $(wildcard lib/*.[ch] rules/*.[ch] analytics/*.[ch] server/*.[ch] db/*.[ch] handlers/*.[ch] tests/unit/*.[ch] tests/db/*.c tests/fuzz/*.c tests/analytics/*.[ch])

clean:
	rm -rf build
