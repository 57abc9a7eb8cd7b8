# pg_gdpr — top-level build.
#
#   make            build the extension and the sidecar
#   make install    install both (PGXS locations, sidecar in $(bindir))
#   make check      install missing packages, build, install, run every test suite
#   make demo       install missing packages, build, install, show the product at work
#   make bench      the benchmarks in bench/
#   make unit       only the unit tests (no server)
#   make fuzz-erase generated schemas against erase and export (SEEDS=1-2000)
PG_CONFIG ?= pg_config
CXX ?= g++
BUILD := build
STRICT := -std=c++17 -O2 -g -Wall -Wextra -Werror
include ipsec_mb.mk
# After `make deps` has installed what was missing, the build decides
# again whether ipsec-mb is there: on a fresh machine this make was parsed
# before its header existed. (A WITH_IPSEC_MB given on the command line
# still reaches the sub-make through MAKEFLAGS.)
AFTER_DEPS := env -u WITH_IPSEC_MB $(MAKE)

SIDECAR_SOURCES := $(sort $(wildcard sidecar/*.cpp))
# Extension sources that never include PostgreSQL headers: the unit tests
# link them directly, without a server.
PLAIN_SOURCES := $(sort $(shell grep -L 'postgres.h' extension/*.cpp))
UNIT_SOURCES := $(sort $(wildcard test/unit/*.cpp))

.PHONY: all extension sidecar install check demo bench unit deps clean installcheck fuzz-erase

all: extension sidecar

extension:
	$(MAKE) -f pgxs.mk PG_CONFIG=$(PG_CONFIG)

sidecar: $(BUILD)/pg_gdpr_sidecar

$(BUILD)/pg_gdpr_sidecar: $(SIDECAR_SOURCES) $(wildcard sidecar/*.h)
	@mkdir -p $(BUILD)
	$(CXX) $(STRICT) -I$(shell $(PG_CONFIG) --includedir) -o $@ $(SIDECAR_SOURCES) \
	  -L$(shell $(PG_CONFIG) --libdir) -lpq -lboost_program_options -lcrypto

$(BUILD)/unit_tests: $(UNIT_SOURCES) $(PLAIN_SOURCES) $(wildcard extension/*.h)
	@mkdir -p $(BUILD)
	$(CXX) $(STRICT) $(IPSEC_MB_CPPFLAGS) -Iextension -o $@ $(UNIT_SOURCES) $(PLAIN_SOURCES) \
	  -lgtest -lgtest_main -lpthread -lcrypto $(IPSEC_MB_LIBS)

# The same tests built without ipsec-mb, as on a machine that lacks it (arm64):
# the OpenSSL-only build must keep compiling and passing.
$(BUILD)/unit_tests_openssl_only: $(UNIT_SOURCES) $(PLAIN_SOURCES) $(wildcard extension/*.h)
	@mkdir -p $(BUILD)
	$(CXX) $(STRICT) -Iextension -o $@ $(UNIT_SOURCES) $(PLAIN_SOURCES) \
	  -lgtest -lgtest_main -lpthread -lcrypto

install: all
	$(MAKE) -f pgxs.mk PG_CONFIG=$(PG_CONFIG) install
	install -D -m 755 $(BUILD)/pg_gdpr_sidecar $(DESTDIR)$(shell $(PG_CONFIG) --bindir)/pg_gdpr_sidecar

deps:
	test/install_deps.sh

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

check: deps
	$(AFTER_DEPS) all $(BUILD)/unit_tests $(BUILD)/unit_tests_openssl_only
	$(AFTER_DEPS) install
	test/run_checks.sh

demo: deps
	$(AFTER_DEPS) all
	$(AFTER_DEPS) install
	demo/run_demo.sh

bench: deps
	$(AFTER_DEPS) all
	$(AFTER_DEPS) install
	bench/run_bench.sh

SEEDS ?= 1-2000
fuzz-erase: deps
	$(AFTER_DEPS) all
	$(AFTER_DEPS) install
	bash -c '. test/lib/cluster.sh && cluster_start && ERASE_FUZZ_SEEDS=$(SEEDS) bash test/suites/erase_fuzz.sh'

clean:
	$(MAKE) -f pgxs.mk PG_CONFIG=$(PG_CONFIG) clean
	rm -rf $(BUILD) results regression.diffs regression.out output_iso
