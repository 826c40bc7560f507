# hypotop — build, test, benchmark, install.
#   make            build ./hypotop
#   make check      every test, the fuzz corpora included; ends with
#                   "N passed, N failed"
#   make golden     rewrite the screen tests' golden files (tests/golden/) from
#                   what the UI draws now; review the diff before committing
#   make bench      the benchmarks of tests/bench
#   make fuzz       the fuzz harnesses of tests/fuzz, FUZZ_SECONDS each (clang;
#                   see the fuzzing block at the end)
#   make deps       install the Debian 12 packages the build, tests and
#                   benchmarks need (DEB_PKGS below)
#   make install PREFIX=/usr/local

PREFIX  ?= /usr/local
# hypotop-job, the supervisor of each local run, is found beside hypotop
# or here.
LIBEXECDIR ?= $(PREFIX)/lib/hypotop
VERSION := 0.1.0
PKGS    := ncursesw libssh2 libcurl libcjson libgit2

CC      ?= cc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -DHYPOTOP_VERSION='"$(VERSION)"' \
              -DHYPOTOP_LIBEXECDIR='"$(LIBEXECDIR)"' $(WARN) \
              -Iinclude $(PKG_CFLAGS) $(CFLAGS)
LIBS    := $(PKG_LIBS) -lpthread -lm
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

DEMO_FILES := examples/quickstart/train.py examples/quickstart/hparams.json \
              examples/quickstart/hypotop.json
THEME_FILES := $(sort $(wildcard themes/*.theme))
LIB_SRC := $(sort $(wildcard src/*/*.c)) build/gen/demo_files.c build/gen/theme_files.c
SRC     := src/main.c $(LIB_SRC)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))

OBJ      := $(SRC:%.c=build/obj/%.o)
LIB_OBJ  := $(LIB_SRC:%.c=build/obj/%.o)
ASAN_OBJ := $(LIB_SRC:%.c=build/asan/%.o)
UNITS    := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
ASAN_UNITS := $(UNIT_SRC:tests/unit/%.c=build/asan-tests/%)
TOOLS    := $(TOOL_SRC:tests/tools/%.c=build/tools/%)

# What `make deps` installs, and for what; nothing else. The fuzzing block
# at the end adds clang for make check's fuzz harnesses.
#   build:      the compiler, musl for hypotop-job, the libraries of PKGS
#   tests:      git and python3 (the e2e tests and the demo), tmux (the UI's),
#               openssh-server (a real sshd on 127.0.0.1 for the ssh workers' tests,
#               tests/tools/sshd.sh), slurm-wlm and munge (a real one-node
#               Slurm for the Slurm workers' tests and benchmark, tests/tools/slurm.sh),
#               librsvg2-bin (rsvg-convert renders the pictures in their test)
#   running:    graphviz, whose dot lays out hypothesis_tree.svg (without it the
#               engine runs and draws progress.svg only)
#   benchmarks: GNU parallel, task-spooler, htop and Optuna, measured against
DEB_PKGS := build-essential musl-tools pkg-config libncurses-dev libssh2-1-dev \
            libcurl4-openssl-dev libcjson-dev libgit2-dev \
            git python3 tmux openssh-server slurm-wlm munge graphviz librsvg2-bin \
            parallel task-spooler htop python3-optuna

.PHONY: all check unit bench deps install uninstall clean demo golden

all: hypotop hypotop-job

hypotop: build/obj/src/main.o build/libhypotop.a hypotop-job
	@echo "  LINK $@"; $(CC) $(ALL_CFLAGS) -o $@ build/obj/src/main.o build/libhypotop.a $(LIBS)

# Static and libc only: it forks once for every job, and the fewer pages
# it maps the faster that is. With musl where it is installed
# (musl-tools): a static glibc maps ten times the pages, and its start-up
# probes the CPU with cpuid, which traps to the hypervisor on a virtual
# machine.
JOB_CC  ?= $(shell command -v musl-gcc 2>/dev/null || echo $(CC))
JOB_SRC := src/hypotop-job.c src/util/procstat.c
hypotop-job: $(JOB_SRC) include/hypotop/procstat.h
	@echo "  LINK $@"; $(JOB_CC) -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) $(CFLAGS) -static -o $@ $(JOB_SRC)

build/obj/%.o: %.c $(wildcard include/hypotop/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC   $<"; $(CC) $(ALL_CFLAGS) -c -o $@ $<

build/asan/%.o: %.c $(wildcard include/hypotop/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC   $< (sanitizers)"; $(CC) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

build/gen/demo_files.c: $(DEMO_FILES) scripts/embed.sh
	@mkdir -p $(dir $@)
	@echo "  GEN  $@"; sh scripts/embed.sh $@ $(DEMO_FILES)

build/gen/theme_files.c: $(THEME_FILES) scripts/embed.sh
	@mkdir -p $(dir $@)
	@echo "  GEN  $@"; EMBED_NAME=theme_files EMBED_TYPE=theme_file \
		EMBED_HEADER=hypotop/theme.h sh scripts/embed.sh $@ $(THEME_FILES)

build/libhypotop.a: $(LIB_OBJ)
	@rm -f $@; ar rcs $@ $^

build/libhypotop-asan.a: $(ASAN_OBJ)
	@rm -f $@; ar rcs $@ $^

build/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) build/libhypotop.a
	@mkdir -p $(dir $@)
	@echo "  TEST $@"; $(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< build/libhypotop.a $(LIBS)

build/asan-tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) build/libhypotop-asan.a
	@mkdir -p $(dir $@)
	@echo "  TEST $@ (sanitizers)"; $(CC) $(ALL_CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $< build/libhypotop-asan.a $(LIBS)

build/tools/%: tests/tools/%.c $(wildcard tests/tools/*.h) build/libhypotop.a
	@mkdir -p $(dir $@)
	@echo "  TOOL $@"; $(CC) $(ALL_CFLAGS) -o $@ $< build/libhypotop.a $(LIBS)

check: hypotop $(UNITS) $(ASAN_UNITS) $(TOOLS)
	@sh tests/run.sh

golden: $(filter build/tests/test_ui_%,$(UNITS))
	@for t in $^; do HYPOTOP_GOLDEN=update $$t || exit 1; done

# Without a terminal (a pipe, CI) the demo runs headless and says so.
demo: hypotop
	./hypotop demo

bench: hypotop $(TOOLS)
	@sh tests/bench/run.sh

deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEB_PKGS)

install: hypotop
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	           $(DESTDIR)$(PREFIX)/share/hypotop/themes $(DESTDIR)$(LIBEXECDIR)
	install -m 755 hypotop $(DESTDIR)$(PREFIX)/bin/hypotop
	install -m 755 hypotop-job $(DESTDIR)$(LIBEXECDIR)/hypotop-job
	install -m 644 man/hypotop.1 $(DESTDIR)$(PREFIX)/share/man/man1/hypotop.1
	install -m 644 themes/*.theme $(DESTDIR)$(PREFIX)/share/hypotop/themes/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/hypotop $(DESTDIR)$(PREFIX)/share/man/man1/hypotop.1
	rm -rf $(DESTDIR)$(PREFIX)/share/hypotop $(DESTDIR)$(LIBEXECDIR)

clean:
	rm -rf build hypotop hypotop-job

# ---- fuzzing (SPEC §12) -----------------------------------------------------
# One libFuzzer harness per parser of outside input: tests/fuzz/fuzz_NAME.c,
# its corpus tests/fuzz/corpus/NAME/ and, where it helps, a dictionary
# tests/fuzz/dict/NAME.dict. They link the library built again with clang
# and the sanitizers into build/fuzz/, apart from the gcc objects.
#   make fuzz                  each harness for FUZZ_SECONDS, one after another;
#                              new inputs go to build/fuzz/new/NAME, crashes to
#                              build/fuzz/crash/NAME (never into the corpus)
#   make fuzz FUZZ="config journal" FUZZ_SECONDS=600
# make check runs each harness over its committed corpus only, and fails
# when clang is missing.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS   = $(ALL_CFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ         ?= $(FUZZ_NAMES)
FUZZERS      := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_OBJ     := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
HAVE_FUZZ_CC := $(shell command -v $(FUZZ_CC) 2>/dev/null)
export FUZZ_CC
DEB_PKGS     += clang libclang-rt-14-dev

.PHONY: fuzz fuzzers

fuzzers: $(FUZZERS)

fuzz: $(FUZZERS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/fuzz.sh $(FUZZ)

# A plain `make check` builds the harnesses when it can; tests/fuzz/regress.sh
# reports each one missing as a failure.
check: $(if $(HAVE_FUZZ_CC),$(FUZZERS))

# The library's sources, and the harnesses' shared tests/fuzz/common.c.
build/fuzz/obj/%.o: %.c $(wildcard include/hypotop/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC   $< (fuzz)"; $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/obj/tests/fuzz/common.o: tests/fuzz/fuzz.h

build/fuzz/libhypotop.a: $(FUZZ_OBJ)
	@rm -f $@; ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build/fuzz/obj/tests/fuzz/common.o \
		build/fuzz/libhypotop.a
	@echo "  FUZZ $@"; $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz \
		-o $@ $< build/fuzz/obj/tests/fuzz/common.o build/fuzz/libhypotop.a $(LIBS)
