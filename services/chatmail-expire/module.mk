# chatmail-expire: upstream's daily expiry (chatmaild expire.py). The
# quota trim (expire_quota.c) is shared with chatmail-quota-expire.
PROGRAMS += chatmail-expire
chatmail-expire_DIR := services/chatmail-expire
chatmail-expire_SRCS := $(sort $(wildcard services/chatmail-expire/*.c))
chatmail-expire_LDLIBS = -Wl,--as-needed
chatmail-expire_TESTDIR := tests/unit/services/chatmail-expire
