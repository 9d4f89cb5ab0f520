# relay-render: renders a relay's config files from a ChatmailRelay
# file without the operator (hack/local-relay.sh, tests). It links the
# operator's spec and renderer sources (and the web renderer when it
# exists) into its own library.
PROGRAMS += relay-render
relay-render_DIR := services/relay-render
relay-render_SRCS := $(sort $(wildcard services/relay-render/*.c operator/spec*.c operator/render/*.c operator/yamljson.c operator/web/*.c))
relay-render_LDLIBS = $(shell $(PKG_CONFIG) --libs yaml-0.1 libqrencode)
relay-render_TESTDIR := tests/unit/services/relay-render
