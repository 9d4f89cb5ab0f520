# doveauth: Dovecot passdb/userdb dict server with create-on-first-login
PROGRAMS += doveauth
doveauth_DIR := services/doveauth
doveauth_SRCS := $(sort $(wildcard services/doveauth/*.c))
doveauth_LDLIBS = -lcrypt
doveauth_TESTDIR := tests/unit/services/doveauth
# its tests and fuzz targets include the private header
$(BUILD)/tests/unit/services/doveauth/%: XCFLAGS += -Iservices/doveauth
$(BUILD)/tests/fuzz/doveauth/%: XCFLAGS += -Iservices/doveauth
