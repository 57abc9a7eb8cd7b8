# The PostgreSQL extension, built with PGXS. The top-level Makefile calls
# this file; DBAs normally use `make` and `make install` there.
PG_CONFIG ?= pg_config

EXTENSION = pg_gdpr
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_gdpr.control)
MODULE_big = pg_gdpr
OBJS = $(patsubst %.cpp,%.o,$(sort $(wildcard extension/*.cpp)))
DATA_built = extension/pg_gdpr--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard extension/pg_gdpr--*--*.sql))

# Server headers as system headers: our strict warnings apply to our code only.
include ipsec_mb.mk
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server) $(IPSEC_MB_CPPFLAGS)
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-register
SHLIB_LINK += -lcrypto $(IPSEC_MB_LIBS) -lstdc++

# No LLVM bitcode: JIT inlining gains nothing for these functions, and the
# clang bitcode rule would not get our C++17 flags.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)


# The install script is one file per concept, concatenated in name order.
extension/pg_gdpr--$(EXTVERSION).sql: $(sort $(wildcard extension/sql/*.sql))
	cat $^ > $@

# PGXS tracks no header dependencies; a changed class layout must rebuild
# every object that sees it, or the module links mismatched code.
$(OBJS): $(wildcard extension/*.h)
