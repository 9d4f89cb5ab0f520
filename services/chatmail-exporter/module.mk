# chatmail-exporter: the relay's metrics endpoint: the services' own
# counters, Dovecot's OpenMetrics and the chatmail-metrics textfile, merged
PROGRAMS += chatmail-exporter
chatmail-exporter_DIR := services/chatmail-exporter
chatmail-exporter_SRCS := $(sort $(wildcard services/chatmail-exporter/*.c))
chatmail-exporter_LDLIBS = $(shell $(PKG_CONFIG) --libs libcurl)
chatmail-exporter_TESTDIR := tests/unit/services/chatmail-exporter
