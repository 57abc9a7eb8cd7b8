# Intel ipsec-mb seals and opens values where it exists (x86-64; Debian
# package libipsec-mb-dev). Built in when its header compiles, so a machine
# without it (arm64) builds the OpenSSL path only. Override with
# `make WITH_IPSEC_MB=no` (or yes); after changing it, `make clean` first.
# Included by Makefile and pgxs.mk, so the extension and the unit tests
# always agree on AesGcmKey's layout.
ifndef WITH_IPSEC_MB
WITH_IPSEC_MB := $(shell printf '\043include <intel-ipsec-mb.h>\n' | \
  $(CXX) -E -x c++ - >/dev/null 2>&1 && echo yes || echo no)
endif
ifeq ($(WITH_IPSEC_MB),yes)
IPSEC_MB_CPPFLAGS := -DPG_GDPR_WITH_IPSEC_MB
IPSEC_MB_LIBS := -lIPSec_MB
else
IPSEC_MB_CPPFLAGS :=
IPSEC_MB_LIBS :=
endif
export WITH_IPSEC_MB
