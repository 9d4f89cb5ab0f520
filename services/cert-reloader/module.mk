# cert-reloader: the relay Pod's `cert` helper: watches the mounted TLS
# certificate and makes nginx, Dovecot and Postfix reload a renewed one
PROGRAMS += cert-reloader
cert-reloader_DIR := services/cert-reloader
cert-reloader_SRCS := $(sort $(wildcard services/cert-reloader/*.c))
cert-reloader_LDLIBS = -Wl,--as-needed $(shell $(PKG_CONFIG) --libs libcurl)
cert-reloader_TESTDIR := tests/unit/services/cert-reloader
