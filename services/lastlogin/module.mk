# lastlogin: Dovecot last_login dict server (password file mtime)
PROGRAMS += lastlogin
lastlogin_DIR := services/lastlogin
lastlogin_SRCS := $(sort $(wildcard services/lastlogin/*.c))
lastlogin_LDLIBS =
lastlogin_TESTDIR := tests/unit/services/lastlogin
