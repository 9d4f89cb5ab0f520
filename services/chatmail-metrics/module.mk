# chatmail-metrics: upstream's chatmail-fsreport (storage, size and
# login-age figures as a summary or Prometheus textfile)
PROGRAMS += chatmail-metrics
chatmail-metrics_DIR := services/chatmail-metrics
chatmail-metrics_SRCS := $(sort $(wildcard services/chatmail-metrics/*.c))
chatmail-metrics_LDLIBS = -Wl,--as-needed
chatmail-metrics_TESTDIR := tests/unit/services/chatmail-metrics
