# relay-render: renders a relay's config files from a ChatmailRelay
# file without the operator (hack/local-relay.sh, tests), on the relay
# library.
PROGRAMS += relay-render
relay-render_DIR := services/relay-render
relay-render_SRCS := $(sort $(wildcard services/relay-render/*.c))
relay-render_INC := relay
relay-render_LIBS = $(LIBRELAY)
relay-render_LDLIBS = $(LIBRELAY_LDLIBS)
relay-render_TESTDIR := tests/unit/services/relay-render
