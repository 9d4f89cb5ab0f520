# doveauth: Dovecot passdb/userdb dict server with create-on-first-login
PROGRAMS += doveauth
doveauth_DIR := services/doveauth
doveauth_SRCS := $(sort $(wildcard services/doveauth/*.c))
doveauth_LDLIBS = -lcrypt -lsqlite3
doveauth_TESTDIR := tests/unit/services/doveauth
